"""Verification: is this probe the same person as that gallery sequence? ROC, EER and TAR at fixed FARs.

Every probe is compared with every gallery sequence of another view (identical views are left out, as in the
identification protocol); the score is the negative Euclidean distance, so higher means more alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_curve

from pipeline.evaluate.protocol import Sequences, distances


@dataclass
class Verification:
    far: np.ndarray  # false-accept rate per threshold (ROC x)
    tar: np.ndarray  # true-accept rate per threshold (ROC y)
    thresholds: np.ndarray
    genuine: int
    impostor: int

    @property
    def eer(self) -> float:
        """Equal error rate: where the false-accept rate meets the false-reject rate (interpolated)."""
        frr = 1.0 - self.tar
        diff = self.far - frr
        i = int(np.argmax(diff >= 0))  # first threshold where FAR ≥ FRR (far rises, frr falls along the curve)
        if i == 0:
            return float((self.far[0] + frr[0]) / 2)
        d0, d1 = diff[i - 1], diff[i]
        w = d0 / (d0 - d1) if d0 != d1 else 0.5
        return float(self.far[i - 1] + w * (self.far[i] - self.far[i - 1]))

    def tar_at(self, far: float) -> float:
        """The true-accept rate at the highest threshold whose false-accept rate is still ≤ `far`."""
        ok = self.far <= far
        return float(self.tar[ok].max()) if ok.any() else 0.0

    def to_dict(self, fars: tuple[float, ...] = (1e-2, 1e-3)) -> dict[str, Any]:
        out: dict[str, Any] = {"eer": self.eer, "genuine_pairs": self.genuine, "impostor_pairs": self.impostor}
        for f in fars:
            out[f"tar@far={f:g}"] = self.tar_at(f)
        # the lowest FAR this many impostor pairs can resolve: TAR figures below it mean little
        out["min_resolvable_far"] = 1.0 / max(1, self.impostor)
        return out


def pair_scores(gallery: Sequences, probes: Sequences) -> tuple[np.ndarray, np.ndarray]:
    """Scores and same-person labels of every probe × gallery pair of different views."""
    d = distances(probes.vectors, gallery.vectors)
    keep = probes.views[:, None] != gallery.views[None]
    if not keep.any():  # one view only (unknown views): compare everything
        keep = np.ones_like(keep)
    same = probes.subjects[:, None] == gallery.subjects[None]
    return -d[keep], same[keep]


def verification(gallery: Sequences, probes: Sequences) -> Verification:
    scores, same = pair_scores(gallery, probes)
    if same.all() or not same.any():
        raise ValueError("verification needs both genuine and impostor pairs")
    far, tar, thr = roc_curve(same, scores, drop_intermediate=False)
    return Verification(far, tar, thr, int(same.sum()), int((~same).sum()))
