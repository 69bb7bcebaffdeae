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


class GeiAccumulator:
    """GEIs built batch by batch: per sequence, the sum of its distinct frames' silhouettes and their count.

    Clips of a sequence overlap (stride < length), so frame `frame_start + t` of a clip (t < num_frames; the rest
    is padding) is added only the first time it is seen. Memory grows with the number of sequences (one sum of
    H×W each, and a bit per frame index), not with the number of clips. The sums are exact integers and the
    first copy of a frame wins, as when every clip was loaded at once, so both give the same GEIs bit for bit.
    """

    def __init__(self) -> None:
        self._sums: dict[str, np.ndarray] = {}
        self._seen: dict[str, int] = {}  # a bit per frame index already added (a few bytes a sequence)
        self.shape: tuple[int, ...] | None = None

    def add(
        self, silhouettes: np.ndarray, sequence_ids: np.ndarray, frame_start: np.ndarray, num_frames: np.ndarray
    ) -> None:
        """One batch of clip rows: silhouettes [N, T, H, W] uint8 with their sequence ids and frame ranges."""
        if self.shape is None and len(silhouettes):
            self.shape = tuple(silhouettes.shape[2:])
        for i, sid in enumerate(np.asarray(sequence_ids).astype(str)):
            seen = self._seen.get(sid, 0)
            start = int(frame_start[i])
            new = [t for t in range(int(num_frames[i])) if not (seen >> (start + t)) & 1]
            if not new:
                continue
            for t in new:
                seen |= 1 << (start + t)
            self._seen[sid] = seen
            frames = silhouettes[i, new].sum(0, dtype=np.uint32)
            if sid in self._sums:
                self._sums[sid] += frames
            else:
                self._sums[sid] = frames

    def __len__(self) -> int:
        return len(self._sums)

    def frame_count(self, sequence_id: str) -> int:
        """Distinct frames of the sequence added so far."""
        return self._seen.get(sequence_id, 0).bit_count()

    def result(self) -> tuple[list[str], np.ndarray]:
        """(sequence ids sorted, GEIs [S, H, W] float32 in [0, 1]); the sums are released as they are read."""
        ids = sorted(self._sums)
        out = np.zeros((len(ids), *(self.shape or ())), np.float32)
        for k, sid in enumerate(ids):
            total = self._sums.pop(sid)
            out[k] = total.astype(np.float64) / self._seen.pop(sid).bit_count() / 255.0
        return ids, out


def sequence_geis(
    silhouettes: np.ndarray, sequence_ids: np.ndarray, frame_start: np.ndarray, num_frames: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """GEIs [S, H, W] float32 in [0, 1], one per sequence (ids sorted), from clip rows in memory [N, T, H, W]."""
    acc = GeiAccumulator()
    acc.add(silhouettes, sequence_ids, frame_start, num_frames)
    return acc.result()


def stream_geis(shards: str, splits: list[str] | None = None, rows: int = 64) -> tuple[list[str], np.ndarray]:
    """`sequence_geis` over a shard directory read a batch of clips at a time (only the columns it needs)."""
    from pipeline.evaluate.shard_stream import iter_clip_batches

    acc = GeiAccumulator()
    columns = ["sequence_id", "frame_start", "num_frames", "silhouettes"]
    for batch in iter_clip_batches(shards, columns, splits=splits, rows=rows):
        acc.add(batch["silhouettes"], batch["sequence_id"], batch["frame_start"], batch["num_frames"])
    return acc.result()


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
        # The covariance's eigendecomposition: memory D × D (the GEI's pixels), not N × D copies of the GEIs as
        # a full SVD makes (1.5 GB more on all of CASIA-B's 13,562 sequences); the same components.
        pca = PCA(n_components=variance, svd_solver="covariance_eigh", random_state=seed).fit(x)
        keep = max(1, min(pca.n_components_, len(x) - n_classes))
        if keep < pca.n_components_:
            pca = PCA(n_components=keep, svd_solver="covariance_eigh", random_state=seed).fit(x)
        lda = LinearDiscriminantAnalysis().fit(pca.transform(x), subjects)
        return cls(pca, lda)

    def transform(self, geis: np.ndarray) -> np.ndarray:
        return self.lda.transform(self.pca.transform(geis.reshape(len(geis), -1)))

    def describe(self) -> dict[str, int]:
        return {
            "pca_components": int(self.pca.n_components_),
            "lda_components": len(self.lda.explained_variance_ratio_),
        }
