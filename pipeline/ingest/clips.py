"""Cutting a sequence into fixed-length clips: Ray Train's to_tf needs one shape for every row."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.ingest.errors import IngestError


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


@dataclass
class FrameItem:
    index: int  # frame number in the source
    frame: np.ndarray  # RGB crop [H, W, 3]
    box: np.ndarray  # person box in source pixels [4]
    detected: bool
    silhouette: np.ndarray | None
    joints: np.ndarray | None
    scene: np.ndarray | None = None  # the box in the scene's fixed view, where the camera had moved (pan, shake)

    def scene_box(self) -> np.ndarray:
        """Where the box lies in the scene (as the camera first saw it), not on a moving screen."""
        return self.box if self.scene is None else self.scene


class Windower:
    """Emits clips of T frames every S frames as frames arrive, then a last one ending at the last frame."""

    def __init__(self, length: int, stride: int) -> None:
        self.length, self.stride = length, stride
        self.buf: list[FrameItem] = []
        self.offset = 0  # global index of buf[0]
        self.next_start = 0
        self.last_start = -1

    def push(self, item: FrameItem) -> list[tuple[int, list[FrameItem]]]:
        self.buf.append(item)
        out = []
        while self.next_start + self.length <= self.offset + len(self.buf):
            i = self.next_start - self.offset
            out.append((self.next_start, self.buf[i : i + self.length]))
            self.last_start = self.next_start
            self.next_start += self.stride
        # Keep what a later clip can still need: from the next start, and always the last T frames.
        keep_from = min(self.next_start, self.offset + len(self.buf) - self.length) - self.offset
        if keep_from > 0:
            del self.buf[:keep_from]
            self.offset += keep_from
        return out

    def finish(self, total: int, min_frames: int) -> tuple[list[tuple[int, list[FrameItem]]], int]:
        """Final clips and how many frames were padded."""
        if total == 0:
            return [], 0
        if total < self.length:
            if total < min_frames:
                raise IngestError(
                    "window", "TooShort", f"{total} frame(s) with a person, fewer than min_frames={min_frames}"
                )
            return [(0, self.buf)], self.length - total
        if self.last_start + self.length < total:
            start = total - self.length
            return [(start, self.buf[start - self.offset : start - self.offset + self.length])], 0
        return [], 0
