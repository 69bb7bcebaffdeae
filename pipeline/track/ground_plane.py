"""How tall a walking person is at each row of a still camera's image, learned from the people it has found, and
what that tells about blobs a foreground mask alone cannot read.

A camera above people's heads looking at flat ground sees a person's height in pixels grow linearly with how low
their feet are in the image: h = a·y + b (a > 0; the row where h would be 0 is the horizon). The detector's own
clear boxes (upright, head and feet in view) give that line within a few seconds of footage. Three things follow from
it that one global size cannot say:
- **a far person**: a blob smaller than the smallest person allowed anywhere is still a person where people are
  that small, when its height fits its row (vtest.avi's far path: 14 px tall at the detector's width, where a
  global minimum low enough for them let fragments of near people through);
- **two people one behind the other**: a blob too tall for where its feet are is the near person and the head and
  body of someone further back, whose feet the line places too (a camera above heads: a < 1);
- **people side by side**: a blob of a person's height but two people's width, with no gap between the bodies,
  is cut where its column profile is lowest near the expected boundaries.

Every cut must give parts that are people at their own rows, or the blob is left as it was. Nothing is learned
while fewer than `min_samples` boxes are in, when they cover too few rows, or when the line explains too few of
them (stairs, a slope, a tilting camera): the detector then works as it did without it.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from pipeline.track.detection import touches_edge

UPRIGHT = (2.0, 4.5)  # height / width of the boxes the line is learned from (a walking person, whole)


def tight_box(mask: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> list[int] | None:
    """The smallest box holding the foreground of `mask[y0:y1, x0:x1]`, in the mask's pixels; None if empty."""
    crop = mask[y0:y1, x0:x1]
    rows, cols = np.flatnonzero(crop.any(axis=1)), np.flatnonzero(crop.any(axis=0))
    if not len(rows):
        return None
    return [x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1]


class GroundPlane:
    """The line h = a·y + b of a person's height (h) against the row of their feet (y), in the mask's pixels,
    refitted every `refit_every` frames from the latest `max_samples` clear boxes (trimmed least squares)."""

    def __init__(
        self, min_samples: int = 60, refit_every: int = 10, max_samples: int = 3000, min_span: float = 0.2
    ) -> None:
        self.min_samples = min_samples
        self.refit_every = refit_every
        self.max_samples = max_samples
        self.min_span = min_span  # the boxes' feet must spread over this share of the image's rows
        self.samples: list[tuple[int, int, int]] = []  # (feet row, height, width)
        self.frames = 0
        self.line: tuple[float, float] | None = None  # (a, b); None: not learned (yet)
        self.width_ratio = 0.0  # a person's width / height, the median of the samples

    def observe(self, boxes: np.ndarray, size: tuple[int, int]) -> None:
        """Learn from one frame's person boxes (x0, y0, x1, y1 in pixels of an image of `size` (w, h)): those
        upright with head and feet in view. Someone half out at the side still shows their height (leaving them
        out learned the line later on vtest.avi: 162 of 168 person-frames covered, against 165)."""
        for x0, y0, x1, y1 in np.asarray(boxes, np.float64).round().astype(int):
            w, h = x1 - x0, y1 - y0
            if w > 0 and UPRIGHT[0] <= h / w <= UPRIGHT[1] and y0 > 1 and y1 < size[1] - 1:
                self.samples.append((y1, h, w))
        del self.samples[: -self.max_samples]
        self.frames += 1
        if self.frames % self.refit_every == 0 and len(self.samples) >= self.min_samples:
            self._fit(size[1])

    def _fit(self, height: int) -> None:
        s = np.asarray(self.samples, np.float64)
        y, h = s[:, 0], s[:, 1]
        low, high = np.percentile(y, [5, 95])
        if high - low < self.min_span * height:  # feet on a few rows: no slope to learn
            self.line, self.width_ratio = None, 0.0
            return
        keep = np.ones(len(y), bool)
        for _ in range(3):  # people standing in a group, a bag, a merged pair: away from the line, left out
            a, b = _least_squares(y[keep], h[keep])
            keep = np.abs(h - (a * y + b)) < 0.25 * np.maximum(h, 1.0)
        good = a > 0 and keep.mean() > 0.5
        self.line = (a, b) if good else None
        self.width_ratio = float(np.median(s[:, 2] / s[:, 1])) if good else 0.0

    def height_at(self, feet: float) -> float | None:
        """A person's expected height in pixels with their feet at row `feet`; None when not learned or above the
        horizon."""
        if self.line is None:
            return None
        h = self.line[0] * feet + self.line[1]
        return h if h > 0 else None

    # --- what the line tells about blobs -----------------------------------------------------------------------

    def far_person(self, mask: np.ndarray, box: list[int], area: int, min_px: float) -> float | None:
        """The score of a blob too small for `min_px` that is a person where it stands (its height fits its row);
        None if it is not."""
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        e = self.height_at(y1)
        if e is None or touches_edge(box, mask.shape[::-1]) or not 0.5 <= h / e <= 1.35:
            return None
        local = max(12.0, min(min_px, 0.5 * 0.55 * e * e * self.width_ratio))  # half a person's pixels there
        fill = area / float(w * h)
        if area < local or h < 1.5 * w or h > 6.0 * w or fill < 0.3:
            return None
        return min(1.0, fill / 0.6) * min(1.0, area / (3 * local))

    def split_stacked(self, mask: np.ndarray, box: list[int]) -> list[list[int]]:
        """A blob too tall for its feet (over 1.35 × a person there) → [near person, the one behind], each placed
        by the line; [box] when it is one person or the parts are not people."""
        x0, y0, x1, y1 = box
        e1 = self.height_at(y1)
        if e1 is None or self.line is None or self.line[0] >= 1 or touches_edge(box, mask.shape[::-1]):
            return [box]
        if y1 - y0 <= 1.35 * e1:
            return [box]
        a, b = self.line
        far_feet = (y0 + b) / (1 - a)  # the one behind: head at y0, feet where a person is that tall
        if far_feet >= y1 - 0.15 * e1 or far_feet - y0 < 0.25 * e1:
            return [box]
        near_top = int(round(y1 - e1))
        near = tight_box(mask, x0, int(y1 - 0.6 * e1), x1, y1)  # legs and body of the near one
        far = tight_box(mask, x0, y0, x1, int(y0 + 0.6 * (far_feet - y0)))  # head and body of the one behind
        if near is None or far is None:
            return [box]
        parts = [[near[0], near_top, near[2], y1], [far[0], y0, far[2], int(round(far_feet))]]
        for p in parts:
            if cv2.countNonZero(mask[p[1] : p[3], p[0] : p[2]]) < 12 or p[3] - p[1] < 1.2 * (p[2] - p[0]):
                return [box]
        return parts

    def split_side_by_side(self, mask: np.ndarray, box: list[int], min_px: float) -> list[list[int]]:
        """A blob of a person's height and at least 1.8 people's width at its row → one part per person, cut at
        the lowest column count near each expected boundary; [box] unless every part is a person at its row."""
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        e = self.height_at(y1)
        size = mask.shape[::-1]
        if e is None or x0 <= 1 or x1 >= size[0] - 1 or y1 >= size[1] - 1 or not 0.75 * e <= h <= 1.35 * e:
            return [box]
        person_w = self.width_ratio * e
        if person_w <= 0 or w < 1.8 * person_w:
            return [box]
        n = max(2, round(w / person_w))
        profile = np.count_nonzero(mask[y0:y1, x0:x1], axis=0).astype(np.float32).reshape(1, -1)
        profile = cv2.blur(profile, (max(3, int(0.5 * person_w) | 1), 1)).ravel()
        edges = [0]
        for i in range(1, n):
            m = round(i * w / n)
            lo, hi = max(1, m - int(0.35 * person_w)), min(w - 1, m + int(0.35 * person_w))
            near_m = profile[lo:hi] + 1e-3 * np.abs(np.arange(lo, hi) - m)  # on a flat stretch: the expected cut
            edges.append(lo + int(np.argmin(near_m)) if hi > lo else m)
        edges.append(w)
        parts = []
        for a, b in itertools.pairwise(edges):
            t = tight_box(mask, x0 + a, y0, x0 + b, y1)
            if t is None or cv2.countNonZero(mask[t[1] : t[3], t[0] : t[2]]) < 0.3 * min_px:
                return [box]
            ht = t[3] - t[1]
            expected = self.height_at(t[3])
            if ht < 1.2 * (t[2] - t[0]) or expected is None or ht < 0.6 * expected:
                return [box]
            parts.append(t)
        return parts


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of the line y = a·x + b nearest the points in least squares (x must not be constant): np.polyfit's
    answer in half its time (the refit runs every 10 frames on the detector's path)."""
    dx = x - x.mean()
    a = float(dx @ (y - y.mean()) / (dx @ dx))
    return a, float(y.mean() - a * x.mean())
