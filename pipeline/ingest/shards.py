"""Reading shards back: tensor columns (fixed-size binary + shape metadata) → NumPy arrays.

ds = read_clips("runs/demo/shards", columns=["frames", "subject"], splits=["train"])   # a Ray Dataset
clips = load_clips("runs/demo/shards", columns=["silhouettes", "subject"])            # a dict of arrays
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.common.storage import resolve
from pipeline.ingest.schema import tensor_spec


def _shards(out: str) -> tuple[pafs.FileSystem, str]:
    fs, path = resolve(out)
    return fs, f"{path.rstrip('/')}/shards"


def shard_schema(out: str) -> pa.Schema:
    fs, path = _shards(out)
    return pads.dataset(path, filesystem=fs, format="parquet").schema


def read_meta(out: str) -> dict[str, Any]:
    """The shard directory's `_manifest.json` (schema version, config and its hash, columns, counts)."""
    import json

    fs, path = resolve(out)
    with fs.open_input_stream(f"{path.rstrip('/')}/_manifest.json") as fh:
        return json.loads(fh.read())


def shards_identity(meta: dict[str, Any]) -> str:
    """What names a shard directory's content (from `read_meta`): its `content_hash` (inputs, layout and
    config), or its config hash for shards made before they had one."""
    return meta.get("content_hash") or meta["config_hash"]


def tensor_specs(schema: pa.Schema) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    return {f.name: spec for f in schema if (spec := tensor_spec(f)) is not None}


def decode_column(values: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Cells of a tensor column (an Arrow array, or a NumPy array of bytes) → one array [N, *shape]."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.FixedSizeBinaryArray):
        buf = values.buffers()[1]
        offset = values.offset * values.type.byte_width
        flat = np.frombuffer(buf, np.uint8, count=len(values) * values.type.byte_width, offset=offset)
    else:
        flat = np.frombuffer(b"".join(values), np.uint8)
    return flat.view(dtype).reshape((-1, *shape))


def decode_batch(batch: dict[str, Any], specs: dict[str, tuple[tuple[int, ...], np.dtype]]) -> dict[str, Any]:
    out = dict(batch)
    for name, (shape, dtype) in specs.items():
        if name in out:
            out[name] = decode_column(out[name], shape, dtype)
    return out


def _filter(splits: Sequence[str] | None) -> pads.Expression | None:
    return pads.field("split").isin(list(splits)) if splits else None


def load_clips(
    out: str, columns: Sequence[str] | None = None, splits: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """All matching clips in memory, for small data (evaluation, tests): column → array."""
    fs, path = _shards(out)
    dataset = pads.dataset(path, filesystem=fs, format="parquet")
    specs = tensor_specs(dataset.schema)
    table = dataset.to_table(columns=list(columns) if columns else None, filter=_filter(splits))
    result: dict[str, np.ndarray] = {}
    for name in table.column_names:
        if name in specs:
            result[name] = decode_column(table[name], *specs[name])
        else:
            result[name] = np.array(table[name].to_pylist(), dtype=object)
    return result


def split_counts(out: str, split: str) -> tuple[int, int]:
    """(clips, distinct subjects) of one split, from manifest.parquet (a row per sequence with its clip count):
    scanning the shards, even two small columns of them, makes Arrow's reader hold memory that grows with the
    number of files (+0.5 GB on the whole of CASIA-B)."""
    fs, path = resolve(out)
    manifest = f"{path.rstrip('/')}/manifest.parquet"
    if fs.get_file_info(manifest).type != pafs.FileType.NotFound:
        with fs.open_input_file(manifest) as fh:
            t = pq.read_table(fh, columns=["subject", "split", "clips"]).to_pylist()
        rows = [r for r in t if r["split"] == split and r["clips"]]
        return sum(r["clips"] for r in rows), len({r["subject"] for r in rows} - {None})
    fs, path = _shards(out)
    table = pads.dataset(path, filesystem=fs, format="parquet").to_table(columns=["subject"], filter=_filter([split]))
    return table.num_rows, len(set(table["subject"].to_pylist()) - {None})


def read_clips(
    out: str,
    columns: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    decode: bool = True,
    shuffle_seed: int | None = None,
) -> Any:
    """The clips as a Ray Dataset with NumPy tensor columns (streams; for training and bulk jobs); with
    decode=False the tensor columns stay as stored (fixed-size binary), for UDFs that decode them themselves.
    With `shuffle_seed`, the files are read in a new order every time the dataset runs (every epoch)."""
    import ray

    fs, path = _shards(out)
    specs = tensor_specs(shard_schema(out))
    from ray.data.expressions import col

    cols = list(columns) if columns else None
    if splits and cols and "split" not in cols:
        cols.append("split")
    shuffle = None if shuffle_seed is None else ray.data.FileShuffleConfig(seed=shuffle_seed)
    # One file per read task: what a read task holds (and its worker's memory pool keeps) is one file, however
    # many files there are; by default a task reads a share of them, which grows with the dataset.
    files = [f for f in fs.get_file_info(pafs.FileSelector(path, recursive=True)) if f.path.endswith(".parquet")]
    ds = ray.data.read_parquet(path, filesystem=fs, shuffle=shuffle, override_num_blocks=max(1, len(files)))
    if cols:
        ds = ds.select_columns(cols)  # pushed down to the Parquet reader
    if splits:
        ds = ds.filter(expr=col("split").is_in(list(splits)))  # pushed down to the Parquet reader
    if not decode:
        return ds
    return ds.map_batches(decode_batch, fn_kwargs={"specs": specs}, batch_format="numpy", zero_copy_batch=True)
