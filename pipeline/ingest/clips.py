"""Cutting a sequence into fixed-length clips: Ray Train's to_tf needs one shape for every row."""

from __future__ import annotations

import numpy as np


def window_starts(n: int, length: int, stride: int) -> list[int]:
    """Clip starts every `stride` frames, plus one ending at the last frame, so no tail is lost.
    A sequence shorter than `length` gives one clip at 0 (it is padded)."""
    if n <= length:
        return [0]
    starts = list(range(0, n - length + 1, stride))
    if starts[-1] != n - length:
        starts.append(n - length)
    return starts


def pad_to(a: np.ndarray, length: int) -> np.ndarray:
    """Repeat the last frame until there are `length` frames."""
    if len(a) >= length:
        return a[:length]
    return np.concatenate([a, np.repeat(a[-1:], length - len(a), axis=0)])
