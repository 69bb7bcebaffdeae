"""Identification protocols as the field computes them (DESIGN §4), on one vector per sequence.

CASIA-B style (also used for the synthetic data and CASIA-A): the gallery is the test subjects' normal-walking
sequences, probes are grouped by condition (NM, BG, CL). For every (probe view, gallery view) pair the probes
of that view are matched, by Euclidean distance, against the gallery sequences of that view only; rank-k is
the share of probes whose true subject is among the k nearest gallery subjects. Identical views are left out
(the diagonal), each probe view's figure is the mean over the other gallery views, and the condition's figure
is the mean over probe views. Sequences without a view are treated as one view, "any": then nothing is left
out, since there is only the one pair.
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


@dataclass
class ConditionResult:
    """Rank-k of one probe condition, per (probe view, gallery view) and summarised."""

    condition: str
    views: list[int]
    matrix: np.ndarray  # [V, V, K]: probe view × gallery view × rank (NaN where a pair has no data)
    probes: int

    @property
    def per_probe_view(self) -> np.ndarray:
        """[V, K]: mean over gallery views, the identical view left out (unless it is the only one)."""
        v = len(self.views)
        out = np.full((v, self.matrix.shape[2]), np.nan)
        for i in range(v):
            cols = [j for j in range(v) if j != i] if v > 1 else [i]
            vals = self.matrix[i, cols]
            ok = ~np.isnan(vals[:, 0])
            if ok.any():
                out[i] = vals[ok].mean(0)
        return out

    @property
    def mean(self) -> np.ndarray:
        """[K]: mean over probe views."""
        per = self.per_probe_view
        ok = ~np.isnan(per[:, 0])
        return per[ok].mean(0) if ok.any() else np.full(self.matrix.shape[2], np.nan)

    @property
    def rank1(self) -> float:
        return float(self.mean[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "probes": self.probes,
            "rank1": self.rank1,
            "cmc": [float(x) for x in self.mean],
            "views": self.views,
            "rank1_per_probe_view": {
                str(v): _num(x) for v, x in zip(self.views, self.per_probe_view[:, 0], strict=True)
            },
            "rank1_matrix": [[_num(x) for x in row] for row in self.matrix[:, :, 0]],
        }


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def cross_view_rank(
    gallery: Sequences, probes: Sequences, conditions: list[str] | None = None, max_rank: int = 5
) -> dict[str, ConditionResult]:
    """The CASIA-B protocol: per condition, rank-k for each (probe view, gallery view) pair."""
    conditions = conditions or sorted(set(probes.conditions))
    views = sorted({int(v) for v in gallery.views} | {int(v) for v in probes.views})
    out = {}
    for cond in conditions:
        p = probes.take(probes.conditions == cond)
        matrix = np.full((len(views), len(views), max_rank), np.nan)
        for i, pv in enumerate(views):
            pp = p.take(p.views == pv)
            if not len(pp):
                continue
            for j, gv in enumerate(views):
                gg = gallery.take(gallery.views == gv)
                if not len(gg):
                    continue
                matrix[i, j] = cmc(distances(pp.vectors, gg.vectors), pp.subjects, gg.subjects, max_rank)
        out[cond] = ConditionResult(cond, views, matrix, len(p))
    return out
