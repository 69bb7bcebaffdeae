"""The classical baseline: gait energy image (GEI) with PCA + LDA and nearest neighbour (Han & Bhanu, 2006).

A GEI is the mean of a sequence's aligned silhouettes (each frame once, however many clips overlap it). PCA
keeps the components that explain 99% of the training GEIs' variance (at most N − C, so that LDA's
within-class scatter is not singular), LDA projects onto at most C − 1 discriminant axes learnt from the
training subjects, and the protocol matches the projections by Euclidean distance, exactly as it matches the
network's vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def group_rows(keys: np.ndarray) -> dict[str, np.ndarray]:
    """Row indices of each distinct key, keys sorted: one sort instead of a scan per key."""
    keys = np.asarray(keys).astype(str)
    uniq, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(uniq)))[:-1]
    return dict(zip(uniq.tolist(), np.split(order, bounds), strict=True))


def sequence_geis(
    silhouettes: np.ndarray, sequence_ids: np.ndarray, frame_start: np.ndarray, num_frames: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """GEIs [S, H, W] float32 in [0, 1], one per sequence, from clip rows of silhouettes [N, T, H, W] uint8."""
    groups = group_rows(sequence_ids)
    ids = list(groups)
    out = np.zeros((len(ids), *silhouettes.shape[2:]), np.float64)
    for k, sid in enumerate(ids):
        seen: dict[int, np.ndarray] = {}
        for i in groups[sid]:
            for t in range(int(num_frames[i])):
                seen.setdefault(int(frame_start[i]) + t, silhouettes[i, t])
        out[k] = np.mean(np.stack(list(seen.values())), axis=0) / 255.0
    return ids, out.astype(np.float32)


@dataclass
class GeiBaseline:
    pca: Any
    lda: Any

    @classmethod
    def fit(cls, geis: np.ndarray, subjects: np.ndarray, variance: float = 0.99, seed: int = 0) -> GeiBaseline:
        from sklearn.decomposition import PCA
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        x = geis.reshape(len(geis), -1)
        n_classes = len(np.unique(subjects))
        if n_classes < 2:
            raise ValueError("the GEI baseline needs at least 2 training subjects")
        pca = PCA(n_components=variance, svd_solver="full", random_state=seed).fit(x)
        keep = max(1, min(pca.n_components_, len(x) - n_classes))
        if keep < pca.n_components_:
            pca = PCA(n_components=keep, svd_solver="full", random_state=seed).fit(x)
        lda = LinearDiscriminantAnalysis().fit(pca.transform(x), subjects)
        return cls(pca, lda)

    def transform(self, geis: np.ndarray) -> np.ndarray:
        return self.lda.transform(self.pca.transform(geis.reshape(len(geis), -1)))

    def describe(self) -> dict[str, int]:
        return {
            "pca_components": int(self.pca.n_components_),
            "lda_components": len(self.lda.explained_variance_ratio_),
        }
