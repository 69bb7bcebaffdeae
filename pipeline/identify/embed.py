"""Clips → identification vectors with a model directory's GaitNN embedder.

`ClipEmbedder` is the Ray Data actor of bulk indexing and evaluation (one model load per actor, batches of
clips in, one vector per clip out, each distinct frame through the pose network once); `load_embedder` and
`embed_clips` are the same in one process (the benchmark's baseline, tests, serving).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.common.model_dir import ModelInfo, local_model, model_file
from pipeline.ingest.shards import decode_column

# Columns that travel with each vector (the rest of a clip row is pixels).
KEEP = (
    "sequence_id",
    "source",
    "layout",
    "subject",
    "condition",
    "sequence",
    "view",
    "clip_index",
    "frame_start",
    "num_frames",
    "track_id",
    "boxes",
)


def set_threads(threads: int) -> None:
    """TensorFlow's thread pools, before the first op runs: an actor that holds n CPUs should use n threads."""
    import tensorflow as tf

    if threads > 0:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(max(1, threads))
        except RuntimeError:  # already initialised in this process: keep what it has
            pass


def load_embedder(model_dir: str | Path) -> Any:
    """The GaitNN embedder of a model directory (a local path, or a URI fetched through the local cache)."""
    from pipeline.models.io import load_model

    return load_model(model_file(local_model(model_dir), "gait"))


def embed_clips(embedder: Any, clips: np.ndarray, batch: int = 32) -> np.ndarray:
    """uint8 clips [N, T, H, W(, C)] → unit vectors [N, D] float32."""
    x = clips[..., None] if clips.ndim == 4 else clips
    out = [
        np.asarray(embedder(x[i : i + batch].astype(np.float32) / 255.0, training=False))
        for i in range(0, len(x), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, embedder.output_shape[-1]), np.float32)


def split_embedder(embedder: Any) -> tuple[Any, Any]:
    """(frame → features network, features → vector network) of an embedder made by `build_embedder`, or of the
    set model's (models/set_net.py)."""
    if any(layer.name == "set_pool" for layer in embedder.layers):
        from pipeline.models.set_net import split_embedder as split_set

        return split_set(embedder)
    return embedder.get_layer("per_frame_features").layer, embedder.layers[-1]


def frame_index(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions of each distinct frame's first copy, for every frame the index of its distinct copy)."""
    seen: dict[bytes, int] = {}
    first: list[int] = []
    inverse = np.empty(len(frames), np.int64)
    for i, frame in enumerate(frames):
        key = hashlib.blake2b(frame.tobytes(), digest_size=16).digest()
        j = seen.setdefault(key, len(first))
        if j == len(first):
            first.append(i)
        inverse[i] = j
    return np.asarray(first, np.int64), inverse


def embed_clips_shared(embedder: Any, clips: np.ndarray, batch: int = 32, frame_batch: int = 256) -> np.ndarray:
    """`embed_clips` with each distinct frame through the first stage once. Clips of a sequence overlap
    (stride S < length T: with T=24, S=12 a 45-frame sequence gives 72 clip frames) and the first stage is
    per frame and most of the cost, so the same vectors come for 1/(overlap) of its work."""
    x = clips[..., None] if clips.ndim == 4 else clips
    if len(x) == 0:
        return np.zeros((0, embedder.output_shape[-1]), np.float32)
    frame_net, gait_net = split_embedder(embedder)
    n, t = x.shape[:2]
    frames = x.reshape((n * t, *x.shape[2:]))
    first, inverse = frame_index(frames)
    unique = frames[first]
    feats = np.concatenate(
        [
            np.asarray(frame_net(unique[i : i + frame_batch].astype(np.float32) / 255.0, training=False))
            for i in range(0, len(unique), frame_batch)
        ]
    )
    per_clip = feats[inverse].reshape((n, t, *feats.shape[1:]))
    return np.concatenate([np.asarray(gait_net(per_clip[i : i + batch], training=False)) for i in range(0, n, batch)])


def mean_vector(vectors: np.ndarray) -> np.ndarray:
    """A sequence's vector: the mean of its clips' unit vectors, back on the unit sphere."""
    m = np.asarray(vectors, np.float32).mean(0)
    return m / max(float(np.linalg.norm(m)), 1e-12)


def vector_column(vectors: np.ndarray) -> pa.FixedSizeListArray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])


class ClipEmbedder:
    """Ray Data actor: a table of clip rows (tensor columns as made by preprocessing) → the same rows' ids
    with an `embedding` column."""

    def __init__(self, model_dir: str, threads: int = 0, batch: int = 32, share_frames: bool = True) -> None:
        set_threads(threads)
        self.info = ModelInfo(model_dir)  # a URI is fetched here, on the actor's own node
        self.model = load_embedder(self.info.dir)
        self.batch = batch
        self.embed = embed_clips_shared if share_frames else embed_clips

    def __call__(self, table: pa.Table) -> pa.Table:
        clips = decode_column(table[self.info.column], self.info.clip_shape, np.dtype(np.uint8))
        vectors = self.embed(self.model, clips, self.batch)
        keep = [c for c in KEEP if c in table.column_names]
        return table.select(keep).append_column("embedding", vector_column(vectors))
