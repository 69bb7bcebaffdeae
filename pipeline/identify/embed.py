"""Clips → identification vectors with a model directory's GaitNN embedder.

`ClipEmbedder` is the Ray Data actor of bulk indexing and evaluation (one model load per actor, batches of
clips in, one vector per clip out, each distinct frame through the pose network once); `load_embedder` with
`pipeline.models.embedding.embed_clips` is the same in one process (the benchmark's baseline, tests, serving).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.common.model_dir import ModelInfo, local_model, model_file
from pipeline.ingest.shards import decode_column
from pipeline.models.embedding import embed_clips, embed_clips_shared, set_threads

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
    "frame_index",
)


def load_embedder(model_dir: str | Path) -> Any:
    """The GaitNN embedder of a model directory (a local path, or a URI fetched through the local cache)."""
    from pipeline.models.io import load_model

    return load_model(model_file(local_model(model_dir), "gait"))


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row on the unit sphere, so that a matrix product gives cosine similarities (float32 or wider, as
    given)."""
    x = np.asarray(vectors)
    x = x.astype(np.result_type(x.dtype, np.float32), copy=False)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


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
