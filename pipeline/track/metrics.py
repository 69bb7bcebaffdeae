"""Tracks scored against ground truth with the CLEAR-MOT and identity metrics (MOTA, IDF1, ID switches).

The counting is `motmetrics`' (py-motmetrics, the library the MOT Challenge's own figures are checked
against), so a figure here means what it means in the tracking literature. What this module adds is the
MOT17 convention for people who can hardly be seen: a ground-truth box whose visibility (share of the person
not hidden and inside the frame) is below `min_visibility` is *ignored*. Per frame, tracker boxes are first
matched one-to-one (Hungarian, IoU ≥ `iou`) against all ground truth; those matched to an ignored person are
removed, as is the ignored person; everything else is scored as usual. So a track that follows a person
through an occlusion is neither rewarded nor punished while the person is hidden, and a tracker that loses
them there is not counted as missing them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.track.tracker import Track

METRICS = (
    "mota",
    "motp",
    "idf1",
    "idp",
    "idr",
    "num_switches",
    "precision",
    "recall",
    "num_frames",
    "num_unique_objects",
    "num_objects",
    "num_predictions",
    "num_false_positives",
    "num_misses",
    "num_fragmentations",
    "mostly_tracked",
    "mostly_lost",
)


def _xywh(boxes: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


def iou_distance(objs_xywh: np.ndarray, hyps_xywh: np.ndarray, max_iou: float) -> np.ndarray:
    """1 − IoU [N, K] with NaN (never pair) above `max_iou`: `mm.distances.iou_matrix`, which motmetrics 1.4.0
    cannot run on NumPy 2 (it calls the removed np.asfarray); the same formula on its own `boxiou`."""
    import motmetrics as mm

    if np.size(objs_xywh) == 0 or np.size(hyps_xywh) == 0:
        return np.empty((len(objs_xywh), len(hyps_xywh)))
    dist = 1.0 - mm.distances.boxiou(objs_xywh[:, None], hyps_xywh[None, :])
    return np.where(dist > max_iou, np.nan, dist)


def _per_frame_hypotheses(tracks: Sequence[Track], n_frames: int) -> list[tuple[list[int], list[np.ndarray]]]:
    out: list[tuple[list[int], list[np.ndarray]]] = [([], []) for _ in range(n_frames)]
    for tr in tracks:
        for f, box in zip(tr.frames, tr.boxes, strict=True):
            if 0 <= f < n_frames:
                out[f][0].append(int(tr.track_id))
                out[f][1].append(np.asarray(box, np.float64))
    return out


def _ignored_hypotheses(dist: np.ndarray, ignored: np.ndarray) -> set[int]:
    """Hypotheses that the one-to-one matching against all ground truth gives to an ignored person."""
    from scipy.optimize import linear_sum_assignment

    if dist.size == 0 or not ignored.any():
        return set()
    cost = np.where(np.isnan(dist), 1e6, dist)
    rows, cols = linear_sum_assignment(cost)
    return {int(c) for r, c in zip(rows, cols, strict=True) if ignored[r] and not np.isnan(dist[r, c])}


def _accumulate(
    truth: Mapping[str, Any], tracks: Sequence[Track], min_visibility: float, iou: float
) -> tuple[Any, dict[str, int]]:
    import motmetrics as mm

    gt = np.asarray(truth["boxes"], np.float64)
    n_frames, n_people = gt.shape[:2]
    vis = truth.get("visibility")
    vis = np.ones((n_frames, n_people)) if vis is None else np.asarray(vis, np.float64)
    hyps = _per_frame_hypotheses(tracks, n_frames)
    acc = mm.MOTAccumulator(auto_id=True)
    ignored_gt = ignored_hyps = 0
    scored_ids: set[int] = set()
    for t in range(n_frames):
        present = np.flatnonzero(~np.isnan(gt[t]).any(1))
        ignored = vis[t, present] < min_visibility
        hyp_ids, hyp_boxes = hyps[t]
        h_xywh = _xywh(np.array(hyp_boxes)) if hyp_boxes else np.zeros((0, 4))
        dist_all = iou_distance(_xywh(gt[t, present]), h_xywh, 1.0 - iou)
        drop = _ignored_hypotheses(dist_all, ignored)
        keep_h = [j for j in range(len(hyp_ids)) if j not in drop]
        keep_o = np.flatnonzero(~ignored)
        ignored_gt += int(ignored.sum())
        ignored_hyps += len(drop)
        scored_ids.update(int(present[i]) for i in keep_o)
        dist = dist_all[np.ix_(keep_o, keep_h)] if dist_all.size else np.empty((len(keep_o), len(keep_h)))
        acc.update([int(present[i]) for i in keep_o], [hyp_ids[j] for j in keep_h], dist)
    return acc, {"num_gt_ids": len(scored_ids), "ignored_gt_boxes": ignored_gt, "ignored_track_boxes": ignored_hyps}


def score_tracks(
    truth: Mapping[str, Any],
    tracks: Sequence[Track],
    min_visibility: float = 0.5,
    iou: float = 0.5,
) -> dict[str, Any]:
    """MOTA, IDF1, ID switches, precision, recall, … of `tracks` against `truth`.

    `truth` holds "boxes" [T, N, 4] (x0, y0, x1, y1 per frame and person, NaN when the person is absent) and
    optionally "visibility" [T, N] (1 where absent from the mapping). A person is one ground-truth id (its
    column), a Track one hypothesis id; a match needs IoU ≥ `iou`. See the module docstring for
    `min_visibility`. Counts are ints, rates floats; `id_switches` is motmetrics' num_switches."""
    import motmetrics as mm

    acc, extra = _accumulate(truth, tracks, min_visibility, iou)
    row = mm.metrics.create().compute(acc, metrics=list(METRICS), name="all").iloc[0]
    out: dict[str, Any] = {}
    for k in METRICS:
        out[k] = int(row[k]) if k.startswith(("num_", "mostly_")) else float(row[k])
    out["id_switches"] = out.pop("num_switches")
    out.update(extra)
    out["num_tracks"] = len({int(tr.track_id) for tr in tracks})
    out["min_visibility"], out["iou"] = min_visibility, iou
    return out


def match_events(
    truth: Mapping[str, Any], tracks: Sequence[Track], min_visibility: float = 0.5, iou: float = 0.5
) -> Any:
    """motmetrics' per-frame events (a DataFrame indexed by FrameId, Event; columns Type: MATCH, SWITCH, MISS,
    FP, …, OId: the person's column, HId: the track id, D: 1 − IoU), scored as `score_tracks` scores: to see
    where a tracker fails (at crossings, at the frame's border, …)."""
    return _accumulate(truth, tracks, min_visibility, iou)[0].mot_events


def summarise(scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several scenes' scores as one: MOTA, IDF1, precision and recall recomputed from the summed counts."""
    total = {k: sum(int(s[k]) for s in scores) for k in ("num_objects", "num_misses", "num_false_positives")}
    total["id_switches"] = sum(int(s["id_switches"]) for s in scores)
    total["num_frames"] = sum(int(s["num_frames"]) for s in scores)
    total["num_gt_ids"] = sum(int(s["num_gt_ids"]) for s in scores)
    n_obj = total["num_objects"]
    mota = 1.0 - (total["num_misses"] + total["num_false_positives"] + total["id_switches"]) / n_obj if n_obj else 0.0
    # IDF1 = 2 IDTP / (num_objects + num_predictions); IDTP per scene is idr × num_objects.
    idtp = sum(float(s["idr"]) * int(s["num_objects"]) for s in scores if int(s["num_objects"]))
    n_pred = sum(int(s["num_predictions"]) for s in scores)
    tp = n_obj - total["num_misses"]
    return {
        **total,
        "num_predictions": n_pred,
        "mota": mota,
        "idf1": 2 * idtp / (n_obj + n_pred) if n_obj + n_pred else 0.0,
        "precision": tp / n_pred if n_pred else 0.0,
        "recall": tp / n_obj if n_obj else 0.0,
    }
