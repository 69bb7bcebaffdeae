"""Identification protocols as the field computes them (DESIGN §4), on one vector per sequence.

CASIA-B style (also used for the synthetic data and CASIA-A): the gallery is the test subjects' normal-walking
sequences, probes are grouped by condition (NM, BG, CL). For every (probe view, gallery view) pair the probes
of that view are matched, by Euclidean distance, against the gallery sequences of that view only; rank-k is
the share of probes whose true subject is among the k nearest gallery subjects. Identical views are left out
(the diagonal), each probe view's figure is the mean over the other gallery views, and the condition's figure
is the mean over probe views. Sequences without a view are treated as one view, "any": then nothing is left
out, since there is only the one pair.

mAP (mean average precision) is averaged over the very same pairs: for a probe and one gallery view, the gallery
sequences of that view are ranked by distance and AP = (1/R) Σ_k precision@k · [k-th is the probe's subject],
R the probe's sequences of that subject in that view; a pair's figure is the mean AP over its probes (those with
R = 0 left out: AP is undefined for them), then identical views are left out and views averaged as for rank-1.
Rank-1 counts distinct subjects; AP counts every gallery sequence of the subject as a hit to retrieve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

ANY_VIEW = -1


@dataclass
class Sequences:
    """One row per sequence: its vector and labels."""

    vectors: np.ndarray  # [N, D] float
    subjects: np.ndarray  # [N] str
    conditions: np.ndarray  # [N] str ("nm", "bg", "cl", …)
    views: np.ndarray  # [N] int (degrees; ANY_VIEW when unknown)
    ids: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))  # sequence_id, for reports

    def __post_init__(self) -> None:
        n = len(self.vectors)
        self.subjects = np.asarray(self.subjects).astype(str)
        self.conditions = np.asarray(self.conditions).astype(str)
        self.views = np.array([ANY_VIEW if v is None else int(v) for v in self.views], dtype=np.int64)
        if len(self.ids) != n:
            self.ids = np.array([f"#{i}" for i in range(n)], dtype=object)
        if not (len(self.subjects) == len(self.conditions) == len(self.views) == n):
            raise ValueError("vectors, subjects, conditions and views must have one entry per sequence")

    def take(self, mask: np.ndarray) -> Sequences:
        return Sequences(
            self.vectors[mask], self.subjects[mask], self.conditions[mask], self.views[mask], self.ids[mask]
        )

    def __len__(self) -> int:
        return len(self.vectors)


def distances(probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Euclidean distances [P, G]."""
    p = probe.astype(np.float64)
    g = gallery.astype(np.float64)
    d2 = (p * p).sum(1)[:, None] + (g * g).sum(1)[None] - 2.0 * p @ g.T
    return np.sqrt(np.maximum(d2, 0.0))


def nearest_rank1(
    probe: np.ndarray, probe_labels: np.ndarray, gallery: np.ndarray, gallery_labels: np.ndarray
) -> float:
    """Share of probes whose nearest gallery vector (squared Euclidean, in the vectors' own precision) carries
    their label: one gallery of any views, no per-view pairs. Training's validation and its model directory's
    rank-1 figures, where the cross-view protocol's labels are not all there."""
    d = ((probe[:, None, :] - gallery[None, :, :]) ** 2).sum(-1)
    return float(np.mean(gallery_labels[d.argmin(1)] == probe_labels))


def cmc(dist: np.ndarray, probe_subjects: np.ndarray, gallery_subjects: np.ndarray, max_rank: int) -> np.ndarray:
    """Cumulative match curve [max_rank]: share of probes whose subject is among the k nearest gallery subjects.

    Ranks count distinct subjects (a subject's closest sequence stands for it), so a gallery with several
    sequences per subject does not push the true subject down the list. Probes whose subject is absent from the
    gallery count as misses.
    """
    subjects = np.unique(gallery_subjects)
    # distance from each probe to each gallery subject: its nearest sequence
    per_subject = np.stack([dist[:, gallery_subjects == s].min(1) for s in subjects], axis=1)
    order = np.argsort(per_subject, axis=1, kind="stable")
    ranked = subjects[order]  # [P, S]
    hit = ranked == probe_subjects[:, None]
    first = np.where(hit.any(1), hit.argmax(1), np.iinfo(np.int64).max)
    return np.array([np.mean(first < k) for k in range(1, max_rank + 1)])


def average_precision(dist: np.ndarray, probe_subjects: np.ndarray, gallery_subjects: np.ndarray) -> np.ndarray:
    """AP of each probe [P] over the gallery sequences ranked by distance (ties: gallery order); NaN for a probe
    whose subject has no sequence in this gallery."""
    order = np.argsort(dist, axis=1, kind="stable")
    hit = gallery_subjects[order] == probe_subjects[:, None]  # [P, G]
    precision = np.cumsum(hit, axis=1) / np.arange(1, hit.shape[1] + 1)
    relevant = hit.sum(1)
    ap = np.full(len(hit), np.nan)
    ok = relevant > 0
    ap[ok] = (precision * hit)[ok].sum(1) / relevant[ok]
    return ap


def off_diagonal_mean(matrix: np.ndarray) -> np.ndarray:
    """[V, V, ...] → [V, ...]: per probe view, the mean over gallery views with the identical view left out
    (unless it is the only one) and pairs without data (NaN) skipped."""
    v = matrix.shape[0]
    out = np.full((v, *matrix.shape[2:]), np.nan)
    for i in range(v):
        cols = [j for j in range(v) if j != i] if v > 1 else [i]
        vals = matrix[i, cols]
        ok = ~np.isnan(vals.reshape(len(cols), -1)[:, 0])
        if ok.any():
            out[i] = vals[ok].mean(0)
    return out


def _mean_over_views(per_view: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(per_view.reshape(len(per_view), -1)[:, 0])
    return per_view[ok].mean(0) if ok.any() else np.full(per_view.shape[1:], np.nan)


@dataclass
class ConditionResult:
    """Rank-k and mAP of one probe condition, per (probe view, gallery view) and summarised."""

    condition: str
    views: list[int]
    matrix: np.ndarray  # [V, V, K]: probe view × gallery view × rank (NaN where a pair has no data)
    probes: int
    ap_matrix: np.ndarray | None = None  # [V, V]: mAP per pair (NaN where a pair has no data)

    def __post_init__(self) -> None:
        if self.ap_matrix is None:
            self.ap_matrix = np.full(self.matrix.shape[:2], np.nan)

    @property
    def per_probe_view(self) -> np.ndarray:
        """[V, K]: mean over gallery views, the identical view left out (unless it is the only one)."""
        return off_diagonal_mean(self.matrix)

    @property
    def mean(self) -> np.ndarray:
        """[K]: mean over probe views."""
        return _mean_over_views(self.per_probe_view)

    @property
    def rank1(self) -> float:
        return float(self.mean[0])

    @property
    def map_per_probe_view(self) -> np.ndarray:
        """[V]: mAP per probe view, averaged over gallery views like rank-1."""
        return off_diagonal_mean(self.ap_matrix)

    @property
    def map(self) -> float:
        """mAP of the condition: mean over probe views."""
        return float(_mean_over_views(self.map_per_probe_view))

    def to_dict(self) -> dict[str, Any]:
        return {
            "probes": self.probes,
            "rank1": self.rank1,
            "cmc": [float(x) for x in self.mean],
            "map": _num(self.map),
            "views": self.views,
            "rank1_per_probe_view": {
                str(v): _num(x) for v, x in zip(self.views, self.per_probe_view[:, 0], strict=True)
            },
            "map_per_probe_view": {str(v): _num(x) for v, x in zip(self.views, self.map_per_probe_view, strict=True)},
            "rank1_matrix": [[_num(x) for x in row] for row in self.matrix[:, :, 0]],
            "map_matrix": [[_num(x) for x in row] for row in self.ap_matrix],
        }


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def cross_view_rank(
    gallery: Sequences, probes: Sequences, conditions: list[str] | None = None, max_rank: int = 5
) -> dict[str, ConditionResult]:
    """The CASIA-B protocol: per condition, rank-k and mAP for each (probe view, gallery view) pair."""
    conditions = conditions or sorted(set(probes.conditions))
    views = sorted({int(v) for v in gallery.views} | {int(v) for v in probes.views})
    out = {}
    for cond in conditions:
        p = probes.take(probes.conditions == cond)
        matrix = np.full((len(views), len(views), max_rank), np.nan)
        ap = np.full((len(views), len(views)), np.nan)
        for i, pv in enumerate(views):
            pp = p.take(p.views == pv)
            if not len(pp):
                continue
            for j, gv in enumerate(views):
                gg = gallery.take(gallery.views == gv)
                if not len(gg):
                    continue
                dist = distances(pp.vectors, gg.vectors)
                matrix[i, j] = cmc(dist, pp.subjects, gg.subjects, max_rank)
                per_probe = average_precision(dist, pp.subjects, gg.subjects)
                if not np.isnan(per_probe).all():
                    ap[i, j] = np.nanmean(per_probe)
        out[cond] = ConditionResult(cond, views, matrix, len(p), ap)
    return out
