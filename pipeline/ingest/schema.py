"""The shard contract (docs/shards.md): one Parquet row per clip of T frames. Bump SCHEMA_VERSION on change."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from ray.data.extensions import ArrowTensorArray

SCHEMA_VERSION = 1

ID_COLUMNS: dict[str, pa.DataType] = {
    "sequence_id": pa.string(),
    "source": pa.string(),
    "layout": pa.string(),
    "subject": pa.string(),
    "condition": pa.string(),
    "sequence": pa.int32(),
    "view": pa.int32(),
    "split": pa.string(),
    "clip_index": pa.int32(),
    "frame_start": pa.int32(),
    "num_frames": pa.int32(),
    "config_hash": pa.string(),
}
TENSOR_COLUMNS = ("frames", "silhouettes", "joints", "boxes", "detected")


def to_table(batch: dict[str, Any]) -> pa.Table:
    """A clip batch (dict of arrays) as an Arrow table with fixed column types: a block whose subjects are all
    unknown must still have a string `subject` column, or the shards would disagree on their schema."""
    cols: dict[str, pa.Array] = {}
    for name, typ in ID_COLUMNS.items():
        values = [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in batch[name]]
        cols[name] = pa.array(values, type=typ)
    for name in TENSOR_COLUMNS:
        if name in batch:
            arr = np.ascontiguousarray(batch[name])
            cols[name] = ArrowTensorArray.from_numpy(arr.astype(np.uint8) if arr.dtype == bool else arr)
    return pa.table(cols)
