"""Finding the walking person in each frame, without downloading anything.

Ground truth when the dataset has it; else background subtraction against a background plate (CASIA-B's
`bkgrd` clips) or the sequence's own temporal median (the person moves, the background does not); else OpenCV's
built-in HOG people detector. Boxes are then filled in where missing and smoothed over time.
"""

from __future__ import annotations

import cv2
import numpy as np

DETECT_WIDTH = 320  # detection runs at most at this width; boxes are scaled back


def detection_scale(width: int) -> float:
    return min(1.0, DETECT_WIDTH / width)


def shrink(frame: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return frame
    h, w = frame.shape[:2]
    return cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


class BackgroundSubtractor:
    """Foreground = pixels that differ from a static background image; the person = the largest blob and the
    blobs around it (a head or a foot separated by a thin gap)."""

    def __init__(self, background: np.ndarray, threshold: int = 28, min_area: float = 0.002) -> None:
        self.background = cv2.GaussianBlur(background, (3, 3), 0).astype(np.float32)
        self.sample = self.background[::4, ::4].reshape(-1, 3) + 1.0
        self.threshold = threshold
        self.min_pixels = max(8, int(min_area * background.shape[0] * background.shape[1]))
        self.open_k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.close_k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    @classmethod
    def from_frames(cls, frames: list[np.ndarray], samples: int = 25) -> BackgroundSubtractor:
        idx = np.linspace(0, len(frames) - 1, min(samples, len(frames))).round().astype(int)
        return cls(np.median(np.stack([frames[i] for i in idx]), axis=0).astype(np.uint8))

    def person(self, frame: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """(box x0, y0, x1, y1 or None, person mask 0/255) in this frame's pixels."""
        img = cv2.GaussianBlur(frame, (3, 3), 0).astype(np.float32)
        # Lighting drifts (a plate filmed at another time, flicker): match the background's per-channel gain to
        # this frame first. The median ratio ignores the person, who covers a small part of the frame.
        gain = np.median((img[::4, ::4].reshape(-1, 3) + 1.0) / self.sample, axis=0)
        diff = np.abs(img - self.background * gain).max(axis=2)
        mask = (diff > self.threshold).astype(np.uint8) * 255
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self.open_k)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self.close_k)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n <= 1:
            return None, np.zeros_like(mask)
        areas = stats[1:, cv2.CC_STAT_AREA]
        big = 1 + int(np.argmax(areas))
        if stats[big, cv2.CC_STAT_AREA] < self.min_pixels:
            return None, np.zeros_like(mask)
        x, y, w, h = stats[big, :4]
        # Keep sizeable blobs near the main blob's box (a head or foot cut off by a thin gap), not specks of noise.
        g = h // 6
        keep = [big]
        for i in range(1, n):
            if i == big or stats[i, cv2.CC_STAT_AREA] < max(4, 0.03 * stats[big, cv2.CC_STAT_AREA]):
                continue
            xi, yi, wi, hi = stats[i, :4]
            if xi < x + w + g and xi + wi > x - g and yi < y + h + g and yi + hi > y - g:
                keep.append(i)
        person = np.isin(labels, keep).astype(np.uint8) * 255
        ys, xs = np.nonzero(person)
        return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32), person


class HogPeople:
    """OpenCV's built-in pedestrian detector (Dalal-Triggs HOG + linear SVM, shipped inside OpenCV)."""

    def __init__(self) -> None:
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def person(self, frame: np.ndarray) -> np.ndarray | None:
        # The detector's window is 64x128: small frames are enlarged so a person can fill it.
        up = max(1.0, 256.0 / frame.shape[0])
        img = cv2.resize(frame, None, fx=up, fy=up) if up > 1 else frame
        rects, weights = self.hog.detectMultiScale(img, winStride=(8, 8), padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return None
        x, y, w, h = rects[int(np.argmax(np.ravel(weights)))]
        return np.array([x, y, x + w, y + h], np.float32) / up


def smooth_boxes(boxes: np.ndarray, window: int) -> np.ndarray:
    """Fill frames without a box from their neighbours (linear in time, held at the ends), then a centred
    moving average of centre and size. Input [n, 4] with NaN rows; output has no NaN (if any box was found)."""
    n = len(boxes)
    found = ~np.isnan(boxes).any(axis=1)
    if not found.any():
        return boxes.copy()
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    t = np.arange(n)
    out = []
    for v in (cx, cy, w, h):
        filled = np.interp(t, t[found], v[found])
        if window > 1 and n > 1:
            k = min(window, n)
            pad = np.pad(filled, (k // 2, k - 1 - k // 2), mode="edge")
            filled = np.convolve(pad, np.ones(k) / k, mode="valid")
        out.append(filled)
    cx, cy, w, h = out
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
