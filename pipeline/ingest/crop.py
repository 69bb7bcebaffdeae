"""Cropping the person with a fixed aspect, and aligning silhouettes the way the field does (OpenGait)."""

from __future__ import annotations

import cv2
import numpy as np


def crop_region(box: np.ndarray, aspect: float, margin: float) -> np.ndarray:
    """A box of the given aspect (width / height) around `box`, taller by `margin` above and below."""
    x0, y0, x1, y1 = (float(v) for v in box)
    h = max(2.0, (y1 - y0) * (1 + 2 * margin))
    w = h * aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def crop_resize(frame: np.ndarray, region: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The region of the frame scaled to `size` (w, h); outside the frame is black. Area interpolation when
    shrinking, so small crops do not alias."""
    fh, fw = frame.shape[:2]
    x0, y0, x1, y1 = (round(float(v)) for v in region)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(fw, x1), min(fh, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        shape = (size[1], size[0], *frame.shape[2:])
        return np.zeros(shape, frame.dtype)
    part = frame[cy0:cy1, cx0:cx1]
    if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
        part = cv2.copyMakeBorder(part, cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1, cv2.BORDER_CONSTANT, value=0)
    interp = cv2.INTER_AREA if part.shape[1] > size[0] else cv2.INTER_LINEAR
    return cv2.resize(part, size, interpolation=interp)


def joints_to_crop(joints: np.ndarray, region: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Joints [J, 3] (x, y, visibility) in frame pixels → crop pixels; joints leaving the crop become invisible."""
    x0, y0, x1, y1 = (float(v) for v in region)
    sx, sy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    out = joints.astype(np.float32).copy()
    # Pixel centres: frame pixel i spans [i - 0.5, i + 0.5), so shift by half a pixel on each side of the scaling.
    out[:, 0] = (joints[:, 0] + 0.5 - x0) * sx - 0.5
    out[:, 1] = (joints[:, 1] + 0.5 - y0) * sy - 0.5
    inside = (out[:, 0] >= 0) & (out[:, 0] <= size[0] - 1) & (out[:, 1] >= 0) & (out[:, 1] <= size[1] - 1)
    out[:, 2] = joints[:, 2] * inside
    return out


def align_silhouette(mask: np.ndarray, size: tuple[int, int], min_pixels: int = 20) -> np.ndarray:
    """OpenGait's alignment: keep the rows that hold the person, scale them to the output height keeping the
    aspect, centre on the column that splits the mass in half, pad or cut to the width. Near-empty → zeros."""
    w_out, h_out = size
    out = np.zeros((h_out, w_out), np.uint8)
    binary = mask if mask.dtype == bool else mask > 127
    if binary.sum() < min_pixels:
        return out
    rows = np.flatnonzero(binary.any(axis=1))
    cols = np.flatnonzero(binary.any(axis=0))  # cutting the empty columns first only saves resize work
    part = binary[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.uint8) * 255
    new_w = max(1, round(part.shape[1] * h_out / part.shape[0]))
    part = cv2.resize(part, (new_w, h_out), interpolation=cv2.INTER_AREA if part.shape[0] > h_out else cv2.INTER_LINEAR)
    mass = part.sum(axis=0).astype(np.float64).cumsum()
    if mass[-1] <= 0:
        return out
    centre = int(np.searchsorted(mass, mass[-1] / 2))
    half = w_out // 2
    padded = np.pad(part, ((0, 0), (half, w_out - half)))
    left = centre  # centre + half - half in padded coordinates
    return np.ascontiguousarray(padded[:, left : left + w_out])
