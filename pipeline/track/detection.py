"""The one interface every person detector implements, and the table that names them.

A detector sees the frames of one source in order (background models learn from them) and returns the people
it found in each, as boxes in that frame's pixels with a score, plus, when it models the background, the
foreground mask of the whole frame (what silhouettes are cut from). Trackers and the quality filter read only
this; a new detector is one class, named in the table of pipeline/track/detectors.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Detections:
    """People found in one frame."""

    boxes: np.ndarray  # [N, 4] float32: x0, y0, x1, y1 in the frame's pixels
    scores: np.ndarray  # [N] float32 in [0, 1]
    # [h, w] uint8 0/255: the frame's foreground, when the detector models it. It may be at a reduced
    # resolution (the detector's working size, same aspect): scale boxes by mask width / frame width.
    mask: np.ndarray | None = None
    # 3×3 homography: this frame's pixels → a fixed view of the scene, when the detector follows a moving camera;
    # trackers predict motion there (a pan or a shake would otherwise look like everyone jumping at once).
    to_world: np.ndarray | None = None

    @classmethod
    def empty(cls, mask: np.ndarray | None = None) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), mask)

    def __len__(self) -> int:
        return len(self.boxes)


def touches_edge(box: np.ndarray, size: tuple[int, int]) -> bool:
    """The box reaches the frame's border (within a pixel): its person is leaving or coming into view.
    `size`: the frame's (width, height)."""
    return bool(box[0] <= 1 or box[1] <= 1 or box[2] >= size[0] - 1 or box[3] >= size[1] - 1)


class CameraMotionError(ValueError):
    """The camera moves in a way background subtraction cannot undo (parallax, no static background): the
    source must become an error row naming the learned detector as the way forward, never a "written" one."""


class Detector(Protocol):
    """Frames of one source, in order (BGR uint8 [H, W, 3]) → the people in each.

    `prime(frames)` is called once with the source's first frames (up to a few seconds) before any `detect`:
    background models learn the empty scene from them, so that people present from the first frame are found;
    detectors that need no priming do nothing."""

    def prime(self, frames: list[np.ndarray]) -> None: ...

    def detect(self, frame: np.ndarray) -> Detections: ...
