"""The skeleton over a frame, so a person can judge the joints at a glance: left limbs in one colour, right in
another (a swapped left and right is the pose network's most common mistake), the body's centre line in a third."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.common.skeleton import BONES, JOINT_NAMES

# BGR
LEFT = (255, 160, 0)  # blue
RIGHT = (0, 140, 255)  # orange
CENTRE = (80, 220, 80)  # green
BOX = (200, 200, 200)


def side_colour(name: str) -> tuple[int, int, int]:
    if name.startswith("l_"):
        return LEFT
    if name.startswith("r_"):
        return RIGHT
    return CENTRE


def _bone_colour(a: int, b: int) -> tuple[int, int, int]:
    """A limb takes its side's colour; a bone from a limb to the centre line (hip to pelvis) too."""
    sides = {side_colour(JOINT_NAMES[a]), side_colour(JOINT_NAMES[b])} - {CENTRE}
    return sides.pop() if len(sides) == 1 else CENTRE


def draw_skeleton(
    frame_bgr: np.ndarray,
    joints: np.ndarray,
    min_confidence: float = 0.1,
    box: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of the frame with the bones (lines), the joints (dots) and the person's box drawn on it. Joints
    [16, 3] are x, y in frame pixels and a confidence; those under `min_confidence` (and their bones) are left
    out."""
    out = np.ascontiguousarray(frame_bgr).copy()
    if out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 200))
    radius = thick + 1
    # cv2 draws at integer pixels; a shift of 4 bits keeps a sixteenth of a pixel of the sub-pixel joints.
    shift, one = 4, 16

    def pt(j: int) -> tuple[int, int]:
        return round(float(joints[j, 0]) * one), round(float(joints[j, 1]) * one)

    ok = np.isfinite(joints[:, :2]).all(axis=1) & (joints[:, 2] >= min_confidence)
    if box is not None and np.isfinite(box).all():
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        cv2.rectangle(out, (x0, y0), (x1, y1), BOX, thick)
    for a, b in BONES:
        if ok[a] and ok[b]:
            cv2.line(out, pt(a), pt(b), _bone_colour(a, b), thick, cv2.LINE_AA, shift)
    for j, name in enumerate(JOINT_NAMES):
        if ok[j]:
            cv2.circle(out, pt(j), radius * one, side_colour(name), -1, cv2.LINE_AA, shift)
    return out
