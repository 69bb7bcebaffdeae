"""The ground plane (pipeline/track/ground_plane.py): the line of a person's height against the row of their feet,
learned from boxes, and the three things it reads in a foreground mask that one global size cannot (a far person,
two people one behind the other, two side by side with no gap), each on masks drawn with known people."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.track.foreground import people
from pipeline.track.ground_plane import GroundPlane

SIZE = (320, 240)  # the detector's working size (w, h)
MIN_PX = 0.0008 * SIZE[0] * SIZE[1]  # the detector's default smallest person there (61 px)
A, B = 0.25, 5.0  # the scene's line: a person with feet at row y is A·y + B pixels tall (vtest.avi's, about)
RATIO = 0.37  # width / height of a walking person


def _learned(a: float = A, b: float = B, frames: int = 40, seed: int = 0) -> GroundPlane:
    """A plane that has seen `frames` frames of four people each at random rows, heights on the line ± 5%, and
    a merged pair (too tall) now and then."""
    rng = np.random.default_rng(seed)
    plane = GroundPlane()
    for f in range(frames):
        boxes = []
        for _ in range(4):
            y1 = rng.uniform(60, 230)
            h = (a * y1 + b) * rng.uniform(0.95, 1.05)
            x0 = rng.uniform(20, 280)
            boxes.append([x0, y1 - h, x0 + RATIO * h, y1])
        if f % 5 == 0:  # a pair one behind the other: 1.6 × too tall, 1.3 × too wide, away from the line
            y1 = rng.uniform(100, 220)
            h = 1.6 * (a * y1 + b)
            boxes.append([100, y1 - h, 100 + 1.3 * RATIO * h / 1.6, y1])
        plane.observe(np.asarray(boxes, np.float32), SIZE)
    return plane


def _ellipse(mask: np.ndarray, feet: float, height: float, cx: float, width: float | None = None) -> list[float]:
    """A person-shaped (elliptical) blob with its feet at row `feet`, centred at column `cx`; its true box."""
    w = RATIO * height if width is None else width
    centre = (round(cx), round(feet - height / 2))
    cv2.ellipse(mask, centre, (round(w / 2), round(height / 2)), 0, 0, 360, 255, -1)
    return [cx - w / 2, feet - height, cx + w / 2, feet]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _matches(found: np.ndarray, truth: list[list[float]], iou: float = 0.5) -> bool:
    """Each true box has its own found box overlapping it by `iou`, and nothing else was found."""
    if len(found) != len(truth):
        return False
    return all(max(_iou(np.asarray(t), f) for f in found) >= iou for t in truth)


def test_the_line_is_learned_from_people_at_different_rows_despite_merged_pairs():
    plane = _learned()
    assert plane.line is not None
    for row in (60, 120, 200):
        assert plane.height_at(row) == pytest.approx(A * row + B, rel=0.05)
    assert plane.width_ratio == pytest.approx(RATIO, rel=0.1)


def test_nothing_is_learned_too_early_from_one_row_or_from_a_line_that_falls():
    assert _learned(frames=10).line is None  # 40 boxes: under min_samples
    one_row = GroundPlane()
    for _ in range(40):
        one_row.observe(np.asarray([[10 + 60 * i, 100, 24 + 60 * i, 140] for i in range(4)], np.float32), SIZE)
    assert one_row.line is None  # feet on one row: the slope is unknown
    assert _learned(a=-0.2, b=60).line is None  # people larger higher up: not a camera over flat ground
    assert one_row.height_at(100) is None


def test_a_far_person_below_the_global_minimum_is_kept_only_where_people_are_that_small():
    mask = np.zeros(SIZE[::-1], np.uint8)
    far = _ellipse(mask, feet=45, height=14, cx=60, width=5)  # 55 px: under MIN_PX, as tall as people at row 45
    near = _ellipse(mask, feet=200, height=55, cx=200)
    assert cv2.countNonZero(mask[30:46, 55:66]) < MIN_PX
    without, _ = people(mask, MIN_PX)
    assert _matches(without, [near])
    found, scores = people(mask, MIN_PX, _learned())
    assert _matches(found, [far, near])
    assert scores.min() > 0.35  # enough for the tracker to start a track on it

    low = np.zeros(SIZE[::-1], np.uint8)
    _ellipse(low, feet=200, height=14, cx=60, width=5)  # the same blob low in the frame: a fragment, not a person
    assert len(people(low, MIN_PX, _learned())[0]) == 0


def test_a_blob_too_tall_for_its_feet_is_cut_into_the_near_person_and_the_one_behind():
    mask = np.zeros(SIZE[::-1], np.uint8)
    near = _ellipse(mask, feet=150, height=A * 150 + B, cx=108)
    behind = _ellipse(mask, feet=120, height=A * 120 + B, cx=114)  # head above the near one's, body hidden
    without, _ = people(mask, MIN_PX)
    assert len(without) == 1  # one blob, no gap and no valley to cut at
    found, _ = people(mask, MIN_PX, _learned())
    assert _matches(found, [near, behind])


def test_one_person_on_the_line_or_a_little_tall_is_never_cut():
    plane = _learned()
    for height in (A * 150 + B, 1.2 * (A * 150 + B)):
        mask = np.zeros(SIZE[::-1], np.uint8)
        person = _ellipse(mask, feet=150, height=height, cx=108)
        found, _ = people(mask, MIN_PX, plane)
        assert _matches(found, [person], iou=0.8)


def _upright(mask: np.ndarray, feet: float, height: float, x0: float) -> list[float]:
    """A blocky person (body and legs a bar, no waist to cut at) with feet at row `feet`, left edge at `x0`."""
    box = [x0, feet - height, x0 + RATIO * height, feet]
    cv2.rectangle(mask, (round(box[0]), round(box[1])), (round(box[2]) - 1, round(box[3]) - 1), 255, -1)
    return box


def test_people_side_by_side_without_a_gap_are_cut_by_their_width():
    h = A * 150 + B
    for shape in ("bars", "ellipses"):
        mask = np.zeros(SIZE[::-1], np.uint8)
        if shape == "bars":  # shoulder to shoulder: a flat column profile
            left = _upright(mask, 150, h, 92)
            right = _upright(mask, 150, h, left[2])
        else:  # bodies overlapping by a fifth: the profile rule cuts them already, and the plane keeps that cut
            left = _ellipse(mask, feet=150, height=h, cx=100)
            right = _ellipse(mask, feet=150, height=h, cx=100 + 0.8 * RATIO * h)
        without, _ = people(mask, MIN_PX)
        found, _ = people(mask, MIN_PX, _learned())
        assert _matches(found, [left, right], iou=0.7), shape
        if shape == "bars":
            assert len(without) == 1  # no valley at all: only the width at this row says two people


def test_a_wide_blob_whose_parts_are_not_people_stays_whole():
    mask = np.zeros(SIZE[::-1], np.uint8)
    h = A * 150 + B
    person = _ellipse(mask, feet=150, height=h, cx=100)
    cv2.rectangle(mask, (100, 140), (100 + round(RATIO * h * 1.3), 150), 255, -1)  # a low bag or a dog beside
    found, _ = people(mask, MIN_PX, _learned())
    assert len(found) == 1 and _iou(found[0], np.asarray(person)) > 0.4
