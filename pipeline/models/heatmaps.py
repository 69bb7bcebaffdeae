"""Joint heatmaps (NumPy only): Gaussian training targets, decoding to sub-pixel joints, and PCK.

Coordinates follow the shards: x, y in pixels with pixel centres at integers, so input pixel i and heatmap cell
c line up through their edges: c = (i + 0.5) · h / H − 0.5.
"""

from __future__ import annotations

import numpy as np

# MPII indices of the torso used as PCK's reference length (left shoulder to right hip).
L_SHOULDER, R_HIP = 13, 2


def _scale(input_size: tuple[int, int], heatmap_size: tuple[int, int]) -> tuple[float, float]:
    return heatmap_size[0] / input_size[0], heatmap_size[1] / input_size[1]


def joints_to_heatmaps(
    joints: np.ndarray, input_size: tuple[int, int], heatmap_size: tuple[int, int], sigma: float = 1.0
) -> np.ndarray:
    """Joints [N, J, 3] (x, y in input pixels, visibility) → float32 [N, h, w, J]: a Gaussian of `sigma` cells
    that is 1.0 at the joint; all zeros for invisible (or non-finite) joints. Sizes are (width, height)."""
    joints = np.asarray(joints, np.float64)
    sx, sy = _scale(input_size, heatmap_size)
    w, h = heatmap_size
    cx = (joints[..., 0] + 0.5) * sx - 0.5  # [N, J] in cells
    cy = (joints[..., 1] + 0.5) * sy - 0.5
    visible = (joints[..., 2] > 0) & np.isfinite(cx) & np.isfinite(cy)
    cx, cy = np.where(visible, cx, 0.0), np.where(visible, cy, 0.0)
    gx = np.exp(-((np.arange(w) - cx[..., None]) ** 2) / (2 * sigma**2))  # [N, J, w]
    gy = np.exp(-((np.arange(h) - cy[..., None]) ** 2) / (2 * sigma**2))  # [N, J, h]
    maps = gy[..., :, None] * gx[..., None, :] * visible[..., None, None]  # [N, J, h, w]
    return np.ascontiguousarray(maps.transpose(0, 2, 3, 1), dtype=np.float32)


def _axis_offset(line: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Sub-cell offset of the peak at index `i` of each row of `line` [M, L]. A Gaussian is a parabola in log
    space, so the vertex through three cells around the peak (the first or last three at a border) is exact for
    the targets. Where that does not apply (values ≤ 0, as a network may give): a quarter cell toward the higher
    neighbour."""
    m, length = line.shape
    rows = np.arange(m)
    if length < 3:
        return np.zeros(m)
    s = np.clip(i - 1, 0, length - 3)
    a, b, c = line[rows, s], line[rows, s + 1], line[rows, s + 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_a, ln_b, ln_c = np.log(a), np.log(b), np.log(c)
        curv = ln_a - 2 * ln_b + ln_c
        vertex = s + 1 + (ln_a - ln_c) / (2 * curv) - i
    fits = (a > 0) & (b > 0) & (c > 0) & (curv < 0)
    lo = line[rows, np.maximum(i - 1, 0)]
    hi = line[rows, np.minimum(i + 1, length - 1)]
    inner = (i > 0) & (i < length - 1)
    quarter = np.where(inner, 0.25 * np.sign(hi - lo), 0.0)
    return np.clip(np.where(fits, vertex, quarter), -0.5, 0.5)


def heatmaps_to_joints(heatmaps: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Heatmaps [N, h, w, J] → joints [N, J, 3]: x, y in input pixels (argmax refined to sub-cell precision)
    and the peak value as the third column (a confidence, not a 0/1 visibility)."""
    hm = np.asarray(heatmaps, np.float64)
    n, h, w, j = hm.shape
    maps = hm.transpose(0, 3, 1, 2).reshape(n * j, h, w)
    iy, ix = np.divmod(maps.reshape(n * j, h * w).argmax(axis=-1), w)
    rows = np.arange(n * j)
    dx = _axis_offset(maps[rows, iy, :], ix)
    dy = _axis_offset(maps[rows, :, ix], iy)
    sx, sy = _scale(input_size, (w, h))
    out = np.empty((n * j, 3), np.float32)
    out[:, 0] = (ix + dx + 0.5) / sx - 0.5
    out[:, 1] = (iy + dy + 0.5) / sy - 0.5
    out[:, 2] = maps[rows, iy, ix]
    return out.reshape(n, j, 3)


def _correct_and_counted(pred: np.ndarray, truth: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    torso_ok = (truth[:, L_SHOULDER, 2] > 0) & (truth[:, R_HIP, 2] > 0)
    torso = np.linalg.norm(truth[:, L_SHOULDER, :2] - truth[:, R_HIP, :2], axis=-1)
    counted = (torso_ok & (torso > 0))[:, None] & (truth[..., 2] > 0)
    dist = np.linalg.norm(pred[..., :2] - truth[..., :2], axis=-1)
    return (dist <= threshold * torso[:, None]) & counted, counted


def pck_per_joint(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.2) -> np.ndarray:
    """PCK per joint [J]: the share of visible truth joints within `threshold` × torso (left shoulder to right
    hip) of the prediction. Samples without a visible torso are skipped; NaN for a joint never counted."""
    correct, counted = _correct_and_counted(pred, truth, threshold)
    total = counted.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, correct.sum(axis=0) / total, np.nan)


def pck(pred: np.ndarray, truth: np.ndarray, threshold: float = 0.2) -> float:
    """PCK@threshold over every counted joint (see `pck_per_joint`); NaN when nothing could be counted."""
    correct, counted = _correct_and_counted(pred, truth, threshold)
    total = int(counted.sum())
    return float(correct.sum() / total) if total else float("nan")
