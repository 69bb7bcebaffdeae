"""The network's vectors for evaluation, gathered batch by batch: one running sum per sequence, not one row per clip.

Evaluation needs a vector per sequence (the normalised mean of its clips' vectors) and, for the linear SVM, the
clip vectors of the enrolment (gallery) and impostor (validation) splits. At CASIA-B scale the clips are tens of
thousands, so the accumulator keeps a float32 sum and a count per sequence and, of those two splits only, at
most SVM_CLIPS_PER_SEQUENCE clip rows a sequence: memory follows the sequences, not the clips. The sums are added
in arrival order, which gives the same float32 means as `np.mean` over the clips.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.evaluate.gei import group_rows
from pipeline.identify.embed import mean_vector

SVM_SPLITS = ("gallery", "val")  # enrolment vectors and impostors (training subjects' validation sequences)
# Clip rows kept per sequence for the SVM: memory then follows the sequences, not the clips (a long sequence's
# clips overlap and say much the same; CASIA-B's sequences have about 5).
SVM_CLIPS_PER_SEQUENCE = 4


@dataclass
class ClipVectors:
    """Per-clip vectors with their sequence ids."""

    sequence_ids: np.ndarray
    vectors: np.ndarray

    def means(self) -> dict[str, np.ndarray]:
        return {s: mean_vector(self.vectors[rows]) for s, rows in group_rows(self.sequence_ids).items()}


class SequenceVectors:
    """Streams clip vectors in; keeps each sequence's sum and count, and the clip rows of `clip_splits`."""

    def __init__(self, split_of: Mapping[str, Any], clip_splits: Collection[str] = SVM_SPLITS) -> None:
        self._split_of = split_of  # sequence_id → split (the manifest's)
        self._clip_splits = set(clip_splits)
        self._sums: dict[str, np.ndarray] = {}
        self._counts: dict[str, int] = {}
        self._clip_ids: list[np.ndarray] = []
        self._clip_vecs: list[np.ndarray] = []
        self._kept: dict[str, int] = {}  # clip rows kept per sequence (at most SVM_CLIPS_PER_SEQUENCE)
        self.dim: int | None = None
        self.clips = 0

    def add(self, sequence_ids: np.ndarray, vectors: np.ndarray) -> None:
        """One batch of clips: ids [N], vectors [N, D]."""
        ids = np.asarray(sequence_ids, dtype=object)
        vecs = np.asarray(vectors, np.float32)
        if not len(ids):
            return
        self.dim = vecs.shape[1]
        self.clips += len(ids)
        for sid, v in zip(ids, vecs, strict=True):
            if sid in self._sums:
                self._sums[sid] += v
                self._counts[sid] += 1
            else:
                self._sums[sid] = v.copy()
                self._counts[sid] = 1
        keep = np.zeros(len(ids), dtype=bool)
        for i, sid in enumerate(ids):
            if self._split_of.get(sid) in self._clip_splits and self._kept.get(sid, 0) < SVM_CLIPS_PER_SEQUENCE:
                self._kept[sid] = self._kept.get(sid, 0) + 1
                keep[i] = True
        if keep.any():
            self._clip_ids.append(ids[keep])
            self._clip_vecs.append(vecs[keep].copy())

    def means(self) -> dict[str, np.ndarray]:
        """sequence_id → the mean of its clips' vectors, back on the unit sphere (as `mean_vector`)."""
        out = {}
        for sid, total in self._sums.items():
            m = total / np.float32(self._counts[sid])
            out[sid] = m / max(float(np.linalg.norm(m)), 1e-12)
        return out

    def clip_vectors(self) -> ClipVectors:
        """The kept clip rows (of `clip_splits`), in arrival order."""
        if not self._clip_ids:
            return ClipVectors(np.array([], dtype=object), np.zeros((0, self.dim or 0), np.float32))
        return ClipVectors(np.concatenate(self._clip_ids), np.concatenate(self._clip_vecs))
