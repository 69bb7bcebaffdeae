"""The shard contract (docs/shards.md): one Parquet row per clip of T frames. Bump SCHEMA_VERSION on change.

Tensor columns are stored as one fixed-size binary value per clip, with their shape and dtype in the field's
metadata: Parquet has no 1-byte integer, so a list<uint8> column costs 4 bytes a pixel and is slow to write and
read. `pipeline.ingest.shards` turns them back into arrays.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

SCHEMA_VERSION = 2  # 2: `frame_index`, the source frame of each of a clip's frames

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
    "track_id": pa.int32(),  # the person track of the source this clip follows (null: the source is one person)
}
TENSOR_COLUMNS = ("frames", "silhouettes", "joints", "boxes", "detected", "frame_index")


def clip_frames(frame_start: int, num_frames: int, frame_index: np.ndarray | bytes | None = None) -> np.ndarray:
    """The source frame number of each of a clip's real (unpadded) frames. A tracked person's clip skips the
    frames in which the tracker lost them for a moment, so `frame_start + t` holds only for shards written
    before `frame_index` (schema 1), where it is the fallback."""
    n = int(num_frames)
    if frame_index is None:
        return np.arange(int(frame_start), int(frame_start) + n, dtype=np.int64)
    if isinstance(frame_index, bytes | bytearray | memoryview):
        frame_index = np.frombuffer(frame_index, np.int32)
    return np.asarray(frame_index, np.int64).reshape(-1)[:n]


def row_frames(batch: dict[str, Any], i: int) -> np.ndarray:
    """`clip_frames` of row `i` of a clip batch (column → array, as `SequenceProcessor` and the readers give)."""
    index = batch.get("frame_index")
    return clip_frames(batch["frame_start"][i], batch["num_frames"][i], None if index is None else index[i])


def tensor_field(name: str, shape: tuple[int, ...], dtype: np.dtype) -> pa.Field:
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    meta = {b"shape": json.dumps(list(shape)).encode(), b"dtype": np.dtype(dtype).str.encode()}
    return pa.field(name, pa.binary(nbytes), metadata=meta)


def tensor_spec(field: pa.Field) -> tuple[tuple[int, ...], np.dtype] | None:
    """(shape, dtype) of a tensor column's cells, or None for an ordinary column."""
    meta = field.metadata or {}
    if b"shape" not in meta:
        return None
    return tuple(json.loads(meta[b"shape"])), np.dtype(meta[b"dtype"].decode())


def tensor_array(arr: np.ndarray) -> tuple[pa.Field, pa.Array]:
    """A batch of tensors [B, ...] as a fixed-size binary column, without copying cell by cell."""
    arr = np.ascontiguousarray(arr)
    field = tensor_field("", arr.shape[1:], arr.dtype)
    data = pa.FixedSizeBinaryArray.from_buffers(field.type, len(arr), [None, pa.py_buffer(arr.tobytes())])
    return field, data


def to_table(batch: dict[str, Any]) -> pa.Table:
    """A clip batch (dict of arrays) as an Arrow table with fixed column types: a block whose subjects are all
    unknown must still have a string `subject` column, or the shards would disagree on their schema."""
    fields, arrays = [], []
    rows = len(batch["sequence_id"])
    for name, typ in ID_COLUMNS.items():
        column = batch.get(name, [None] * rows)
        values = [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in column]
        fields.append(pa.field(name, typ))
        arrays.append(pa.array(values, type=typ))
    for name in TENSOR_COLUMNS:
        if name in batch:
            arr = batch[name]
            field, data = tensor_array(arr.astype(np.uint8) if arr.dtype == bool else arr)
            fields.append(field.with_name(name))
            arrays.append(data)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
