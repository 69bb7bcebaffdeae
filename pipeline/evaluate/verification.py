"""Verification: is this probe the same person as that gallery sequence? ROC, EER and TAR at fixed FARs.

Every probe is compared with every gallery sequence of another view (identical views are left out, as in the
identification protocol); the score is the negative Euclidean distance, so higher means more alike.

The pairs are P × G (about 6.5 million on CASIA-B's test set), so they are never held at once: distances are made
a block of probes at a time and counted into genuine and impostor histograms over [0, an upper bound of every
distance] in THRESHOLDS steps. FAR and TAR are then exact at each of those thresholds, memory is two histograms
however many sequences there are, and the ROC has at most THRESHOLDS + 1 points.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.evaluate.protocol import Sequences, distances

THRESHOLDS = 2**16
PROBE_BLOCK = 256  # probes a block: 256 × G distances at a time


@dataclass
class Verification:
    far: np.ndarray  # false-accept rate per threshold (ROC x), rising
    tar: np.ndarray  # true-accept rate per threshold (ROC y), rising
    thresholds: np.ndarray  # score thresholds (accept when score ≥ threshold), falling
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


def pair_blocks(gallery: Sequences, probes: Sequences) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(distances, same person) of every probe × gallery pair of different views, flat, a block of probes of
    one view at a time. With one view only (views unknown) every pair is compared."""
    one_view = len(np.unique(np.concatenate([gallery.views, probes.views]))) == 1
    for view in np.unique(probes.views):
        rows = np.flatnonzero(probes.views == view)
        cols = np.arange(len(gallery)) if one_view else np.flatnonzero(gallery.views != view)
        if not len(cols):
            continue
        g, gs = gallery.vectors[cols], gallery.subjects[cols]
        for lo in range(0, len(rows), PROBE_BLOCK):
            block = rows[lo : lo + PROBE_BLOCK]
            d = distances(probes.vectors[block], g)
            yield d.ravel(), (probes.subjects[block][:, None] == gs[None]).ravel()


def verification(gallery: Sequences, probes: Sequences, thresholds: int = THRESHOLDS) -> Verification:
    # every distance is at most the two longest vectors' lengths summed (triangle inequality)
    bound = float(np.linalg.norm(gallery.vectors, axis=1).max() + np.linalg.norm(probes.vectors, axis=1).max())
    top = bound * (1 + 1e-9) + 1e-12
    edges = np.linspace(0.0, top, thresholds + 1)
    genuine, impostor = np.zeros(thresholds, np.int64), np.zeros(thresholds, np.int64)
    for d, same in pair_blocks(gallery, probes):
        genuine += np.histogram(d[same], thresholds, (0.0, top))[0]  # equal bins: numpy's fast path
        impostor += np.histogram(d[~same], thresholds, (0.0, top))[0]
    n_gen, n_imp = int(genuine.sum()), int(impostor.sum())
    if not n_gen or not n_imp:
        raise ValueError("verification needs both genuine and impostor pairs")
    # accept a pair when its distance is below a bin's upper edge: rates rise with the edge
    kept = (genuine + impostor) > 0  # thresholds where the curve moves
    tar = np.concatenate([[0.0], np.cumsum(genuine)[kept] / n_gen])
    far = np.concatenate([[0.0], np.cumsum(impostor)[kept] / n_imp])
    thr = np.concatenate([[np.inf], -edges[1:][kept]])
    return Verification(far, tar, thr, n_gen, n_imp)
