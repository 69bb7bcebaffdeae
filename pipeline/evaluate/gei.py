"""The classical baseline: gait energy image (GEI) with PCA + LDA and nearest neighbour (Han & Bhanu, 2006).

A GEI is the mean of a sequence's aligned silhouettes (each frame once, however many clips overlap it), kept as
grey levels (uint8, the mean rounded): H×W bytes a sequence. PCA keeps the components that explain 99% of the
training GEIs' variance (at most N − C, so that LDA's within-class scatter is not singular), LDA projects onto at
most C − 1 discriminant axes learnt from the training subjects, and the protocol matches the projections by
Euclidean distance, exactly as it matches the network's vectors.

Memory follows the sequences at H×W bytes each, never the clips: GEIs are summed a batch of clips at a time and
closed as soon as a sequence's last clip is in; PCA is fitted from a covariance summed a chunk of GEIs at a time
(D × D, D the GEI's pixels) and every projection is made a chunk at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.evaluate.shard_stream import iter_clip_batches, shard_dataset
from pipeline.ingest.schema import clip_frames

CHUNK = 1024  # GEIs converted to float64 at a time (PCA's covariance, projections): 1024 × D × 8 bytes


def group_rows(keys: np.ndarray) -> dict[str, np.ndarray]:
    """Row indices of each distinct key, keys sorted: one sort instead of a scan per key."""
    keys = np.asarray(keys).astype(str)
    uniq, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(uniq)))[:-1]
    return dict(zip(uniq.tolist(), np.split(order, bounds), strict=True))


class GeiAccumulator:
    """GEIs built batch by batch: per open sequence, the sum of its distinct frames' silhouettes and their count.

    Clips of a sequence overlap (stride < length), so each source frame of a clip (its `frame_index`, or
    `frame_start + t` in shards written before it; t < num_frames, the rest is padding) is added only the first
    time it is seen; the first copy of a frame wins, as when every clip was loaded at once, so both give the
    same GEIs bit for bit. With `clips` (sequence_id → its clip count, from the manifest) a sequence is closed
    into its uint8 GEI when its last clip is in, so only the sequences whose clips are still arriving hold a sum
    (H×W×4 bytes); the others hold H×W bytes.
    """

    def __init__(self, clips: Mapping[str, int] | None = None) -> None:
        self._clips = clips or {}
        self._sums: dict[str, np.ndarray] = {}
        self._seen: dict[str, int] = {}  # a bit per frame index already added (a few bytes a sequence)
        self._rows: dict[str, int] = {}  # clip rows of an open sequence so far
        self._done: dict[str, np.ndarray] = {}  # closed sequences: their GEI as uint8
        self.shape: tuple[int, ...] | None = None

    def add(
        self,
        silhouettes: np.ndarray,
        sequence_ids: np.ndarray,
        frame_start: np.ndarray,
        num_frames: np.ndarray,
        frame_index: np.ndarray | None = None,
    ) -> None:
        """One batch of clip rows: silhouettes [N, T, H, W] uint8 with their sequence ids and source frames."""
        if self.shape is None and len(silhouettes):
            self.shape = tuple(silhouettes.shape[2:])
        for i, sid in enumerate(np.asarray(sequence_ids).astype(str)):
            if sid in self._done:
                raise ValueError(f"sequence {sid} has more clip rows than its manifest's {self._clips[sid]}")
            seen = self._seen.get(sid, 0)
            numbers = clip_frames(frame_start[i], num_frames[i], None if frame_index is None else frame_index[i])
            new = [t for t, f in enumerate(numbers.tolist()) if not (seen >> f) & 1]
            for t in new:
                seen |= 1 << int(numbers[t])
            self._seen[sid] = seen
            if new:
                frames = silhouettes[i, new].sum(0, dtype=np.uint32)
                if sid in self._sums:
                    self._sums[sid] += frames
                else:
                    self._sums[sid] = frames
            self._rows[sid] = self._rows.get(sid, 0) + 1
            if self._rows[sid] == self._clips.get(sid, -1):
                self._close(sid)

    def _close(self, sid: str) -> None:
        total, count = self._sums.pop(sid, None), self._seen.pop(sid, 0).bit_count()
        self._rows.pop(sid, None)
        if total is not None and count:
            self._done[sid] = np.rint(total / count).astype(np.uint8)

    def __len__(self) -> int:
        return len(set(self._done) | set(self._sums))

    def frame_count(self, sequence_id: str) -> int:
        """Distinct frames of an open sequence added so far."""
        return self._seen.get(sequence_id, 0).bit_count()

    def result(self) -> tuple[list[str], np.ndarray]:
        """(sequence ids sorted, GEIs [S, H, W] uint8: the mean silhouette in grey levels); the accumulator is
        emptied as it is read."""
        for sid in list(self._sums):
            self._close(sid)
        ids = sorted(self._done)
        out = np.zeros((len(ids), *(self.shape or ())), np.uint8)
        for k, sid in enumerate(ids):
            out[k] = self._done.pop(sid)
        return ids, out


def sequence_geis(
    silhouettes: np.ndarray,
    sequence_ids: np.ndarray,
    frame_start: np.ndarray,
    num_frames: np.ndarray,
    frame_index: np.ndarray | None = None,
) -> tuple[list[str], np.ndarray]:
    """GEIs [S, H, W] uint8, one per sequence (ids sorted), from clip rows in memory [N, T, H, W]."""
    acc = GeiAccumulator()
    acc.add(silhouettes, sequence_ids, frame_start, num_frames, frame_index)
    return acc.result()


def stream_geis(
    shards: str, splits: list[str] | None = None, rows: int = 64, clips: Mapping[str, int] | None = None
) -> tuple[list[str], np.ndarray]:
    """`sequence_geis` over a shard directory read a batch of clips at a time (only the columns it needs);
    `clips` (sequence_id → clip count, the manifest's) lets each GEI close as soon as its clips are in."""

    acc = GeiAccumulator(clips)
    columns = ["sequence_id", "frame_start", "num_frames", "silhouettes"]
    columns += ["frame_index"] if "frame_index" in shard_dataset(shards).schema.names else []
    for batch in iter_clip_batches(shards, columns, splits=splits, rows=rows):
        frames = batch.get("frame_index")
        acc.add(batch["silhouettes"], batch["sequence_id"], batch["frame_start"], batch["num_frames"], frames)
    return acc.result()


def _chunks(geis: np.ndarray) -> Iterator[np.ndarray]:
    """[N, ...] GEIs (uint8 grey levels) → float64 rows in [0, 1], CHUNK at a time."""
    flat = geis.reshape(len(geis), -1)
    for lo in range(0, len(flat), CHUNK):
        yield flat[lo : lo + CHUNK].astype(np.float64) / 255.0


@dataclass
class StreamedPca:
    """PCA from the covariance summed a chunk of rows at a time: memory D × D, however many rows (the same
    components as scikit-learn's `PCA(svd_solver="covariance_eigh")`, which needs every row as one array)."""

    mean: np.ndarray  # [D]
    components: np.ndarray  # [D, K]
    explained_variance_ratio: np.ndarray  # [K]

    @classmethod
    def fit(cls, geis: np.ndarray, variance: float, max_components: int) -> StreamedPca:
        n = len(geis)
        d = int(np.prod(geis.shape[1:]))
        total, scatter = np.zeros(d), np.zeros((d, d))
        for x in _chunks(geis):
            total += x.sum(0)
            scatter += x.T @ x
        mean = total / n
        scatter -= n * np.outer(mean, mean)
        scatter /= max(1, n - 1)
        values, vectors = np.linalg.eigh(scatter)
        del scatter
        values, vectors = np.maximum(values[::-1], 0.0), vectors[:, ::-1]
        ratio = values / values.sum() if values.sum() > 0 else np.zeros_like(values)
        keep = int(np.searchsorted(np.cumsum(ratio), variance, side="right")) + 1  # as scikit-learn chooses
        keep = max(1, min(keep, max_components, d))
        return cls(mean, np.ascontiguousarray(vectors[:, :keep]), ratio[:keep])

    def transform(self, geis: np.ndarray) -> np.ndarray:
        """[N, ...] → [N, K] float32, a chunk at a time."""
        out = np.zeros((len(geis), self.components.shape[1]), np.float32)
        lo = 0
        for x in _chunks(geis):
            out[lo : lo + len(x)] = (x - self.mean) @ self.components
            lo += len(x)
        return out

    @property
    def n_components(self) -> int:
        return self.components.shape[1]


@dataclass
class GeiBaseline:
    pca: StreamedPca
    lda: Any

    @classmethod
    def fit(cls, geis: np.ndarray, subjects: np.ndarray, variance: float = 0.99) -> GeiBaseline:
        """`geis`: [N, H, W] uint8 training GEIs of the training subjects."""
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        n_classes = len(np.unique(subjects))
        if n_classes < 2:
            raise ValueError("the GEI baseline needs at least 2 training subjects")
        pca = StreamedPca.fit(geis, variance, max_components=max(1, len(geis) - n_classes))
        lda = LinearDiscriminantAnalysis().fit(pca.transform(geis), subjects)
        return cls(pca, lda)

    def transform(self, geis: np.ndarray) -> np.ndarray:
        return self.lda.transform(self.pca.transform(geis)).astype(np.float32)

    def describe(self) -> dict[str, int]:
        return {
            "pca_components": self.pca.n_components,
            "lda_components": len(self.lda.explained_variance_ratio_),
        }
