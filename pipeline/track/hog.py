"""Every person in a frame by OpenCV's built-in pedestrian detector: nothing to download, nothing to train.

The detector (Dalal-Triggs HOG features + the linear SVM shipped inside OpenCV) slides a 64×128 window over an
image pyramid. Its raw windows overlap heavily around each person; they are merged here by non-maximum
suppression, and a big loose window that holds a better one whole (HOG's usual false alarm: one window around a
person and their surroundings, or around two people) is dropped. The SVM margin becomes a [0, 1] score through a
logistic. Frames are resized to a working width first: large frames shrink (the cost grows with the pixel count)
and small ones grow, so that people a few tens of pixels tall can fill the window; a person must be about 96
working pixels tall to be found (see `width`).

The window holds the person with a margin of 16 of its 64×128 pixels on every side (how the INRIA training
windows were cut): 1/4 of the box width left and right, 1/8 of its height above and below. On OpenCV's
pedestrian clip (vtest.avi) the foreground inside confident boxes leaves median margins of 0.24 / 0.22 of the
width (left / right) and 0.13 / 0.14 of the height (top / bottom). With `shrink` (the default) boxes lose 1/8 of
their height at the top and at the bottom and 3/16 of their width on each side: a little less than the margin,
so that a striding walker's feet and arms stay inside.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.track.detection import Detections

MARGIN_X = 3 / 16  # of the box width, removed on each side when shrinking (the window's own margin is 1/4)
MARGIN_Y = 1 / 8  # of the box height, removed at the top and at the bottom (the window's own margin)


def svm_score(weights: np.ndarray, centre: float = 1.0, slope: float = 2.0) -> np.ndarray:
    """SVM margins → [0, 1]: a logistic that gives 0.5 at `centre` (margin 0 → 0.12, 2 → 0.88, 3 → 0.98)."""
    return (1.0 / (1.0 + np.exp(-slope * (np.asarray(weights, np.float64) - centre)))).astype(np.float32)


def drop_enclosing(boxes: np.ndarray, order: np.ndarray, inside: float = 0.8) -> np.ndarray:
    """Indices from `order` (best first) kept after dropping every box that holds `inside` of a better kept
    box's area: a loose window around a person already found. Boxes are [N, 4] xyxy."""
    kept: list[int] = []
    for i in order:
        x0, y0, x1, y1 = boxes[i]
        enclosing = False
        for k in kept:
            a0, b0, a1, b1 = boxes[k]
            inter = max(0.0, min(x1, a1) - max(x0, a0)) * max(0.0, min(y1, b1) - max(y0, b0))
            if inter >= inside * (a1 - a0) * (b1 - b0):
                enclosing = True
                break
        if not enclosing:
            kept.append(int(i))
    return np.array(kept, np.int64)


class HogDetector:
    """All people in each frame by HOG + linear SVM, merged by NMS, as boxes in the frame's pixels.

    width: the working width every frame is resized to (down for speed, up so small people fill the window).
    At 960 a person is found from about 1/7.5 of a 4:3 frame's height (1/5.6 of a 16:9 one); cost grows with
    width². min_score: the least score kept (after `svm_score`). iou: NMS overlap above which the weaker of
    two windows goes. scale: the pyramid step (1.05 costs twice 1.1 and, on vtest.avi, finds no more people).
    shrink: tighten the loose windows toward the person (module docstring)."""

    def __init__(
        self,
        width: int = 960,
        min_score: float = 0.3,
        iou: float = 0.4,
        scale: float = 1.1,
        win_stride: int = 8,
        shrink: bool = True,
    ) -> None:
        if width < 64:
            raise ValueError(f"width must be at least the 64-pixel window, got {width}")
        self.width = width
        self.min_score = min_score
        self.iou = iou
        self.scale = scale
        self.win_stride = win_stride
        self.shrink = shrink
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def prime(self, frames: list[np.ndarray]) -> None:
        """Nothing to learn: HOG looks at one frame at a time."""

    def detect(self, frame: np.ndarray) -> Detections:
        """The people in one BGR uint8 frame."""
        h, w = frame.shape[:2]
        s = self.width / w
        size = (self.width, max(1, round(h * s)))
        img = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        if img.shape[0] < 128:  # shorter than the window: nobody can be found (a very wide frame)
            return Detections.empty()
        stride = (self.win_stride, self.win_stride)
        # groupThreshold=0: the raw windows, merged below by NMS (OpenCV's grouping drops lone windows).
        rects, weights = self.hog.detectMultiScale(
            img, winStride=stride, padding=(8, 8), scale=self.scale, groupThreshold=0
        )
        if len(rects) == 0:
            return Detections.empty()
        scores = svm_score(np.ravel(weights))
        rects = np.asarray(rects, np.float64).reshape(-1, 4)
        keep = np.ravel(cv2.dnn.NMSBoxes(rects.tolist(), scores.tolist(), self.min_score, self.iou)).astype(int)
        if len(keep) == 0:
            return Detections.empty()
        boxes = np.column_stack([rects[:, :2], rects[:, :2] + rects[:, 2:]])
        keep = drop_enclosing(boxes, keep[np.argsort(-scores[keep], kind="stable")])
        boxes, scores = boxes[keep], scores[keep]
        if self.shrink:
            bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
            boxes = boxes + np.column_stack([bw * MARGIN_X, bh * MARGIN_Y, -bw * MARGIN_X, -bh * MARGIN_Y])
        boxes = boxes * np.array([w / size[0], h / size[1]] * 2)
        boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
        return Detections(boxes, scores.astype(np.float32))
