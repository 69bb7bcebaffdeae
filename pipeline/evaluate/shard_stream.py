"""Shard clips a few rows at a time, file by file, only the columns asked for: memory bounded by one batch.

`load_clips` (pipeline.ingest.shards) reads every clip at once, which at CASIA-B scale (about 70,000 clips of 30
silhouettes) is several GB. Evaluation reads the shards here instead: one Parquet file at a time, in record
batches of `rows` clips, no read-ahead, the tensor columns decoded as views on each batch's buffers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from pipeline.common.storage import resolve
from pipeline.ingest.shards import decode_column, tensor_specs

BATCH_ROWS = 64  # clips per batch: 64 × 30 × 64 × 64 silhouettes is about 8 MB


def shard_dataset(shards: str) -> pads.Dataset:
    """The clip files of a shard directory (local path or URI) as a PyArrow dataset, in file order."""
    fs, path = resolve(shards)
    return pads.dataset(f"{path.rstrip('/')}/shards", filesystem=fs, format="parquet")


def iter_clip_batches(
    shards: str, columns: Sequence[str], splits: Sequence[str] | None = None, rows: int = BATCH_ROWS
) -> Iterator[dict[str, np.ndarray]]:
    """Batches of clips as column → array (tensor columns [n, *shape], others object arrays), in the order
    `load_clips` returns them, so that results computed either way agree row for row.

    Each file is opened, read and closed in turn (`pq.ParquetFile`), not scanned through one dataset object: a
    dataset keeps every file's parsed footer once it has been read, and shards hold a row group per written block
    (thousands of them on CASIA-B), so that cache alone grew by about 30 KB a sequence."""
    fs, _ = resolve(shards)
    files = shard_dataset(shards).files
    wanted = pa.array(list(splits)) if splits else None
    read = list(dict.fromkeys([*columns, *(["split"] if splits else [])]))
    for path in files:
        with fs.open_input_file(path) as handle:
            reader = pq.ParquetFile(handle)
            specs = tensor_specs(reader.schema_arrow)
            for batch in reader.iter_batches(batch_size=rows, columns=read):
                if wanted is not None:
                    batch = batch.filter(pc.is_in(batch.column("split"), value_set=wanted))
                if not batch.num_rows:
                    continue
                out: dict[str, np.ndarray] = {}
                for name in columns:
                    values = batch.column(name)
                    if name in specs:
                        out[name] = decode_column(values, *specs[name])
                    else:
                        out[name] = np.array(values.to_pylist(), dtype=object)
                yield out
