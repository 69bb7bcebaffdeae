"""The gallery (DESIGN §3): identification vectors in Parquet, a row per clip and a row per sequence mean.

    GALLERY/parts/<model_version>/part-<time>-<n>.parquet   complete sequences only, each file written atomically
    GALLERY/errors.parquet                                   inputs the last run could not index (replaced per run)
    GALLERY/_gallery.json                                    the last run: model, archive, counts (written last)

A part file is the unit of commit: it holds every clip row and the mean row of each sequence in it, and no
sequence is in two parts of one model version. What is indexed is therefore exactly what the part files hold,
which makes resuming simple: a run lists the (sequence_id, content_hash) keys already there for its model
version and skips them. A source whose content changed since it was indexed gets a new key; its new rows are
added and `read_gallery` keeps only the newest content per sequence.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.common.storage import resolve

GALLERY_FORMAT = "gait-gallery/1"
MEAN_ROW = -1  # clip_index of a sequence's mean vector


def gallery_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("sequence_id", pa.string()),
            ("clip_index", pa.int32()),
            ("embedding", pa.list_(pa.float32(), dim)),
            ("subject", pa.string()),
            ("condition", pa.string()),
            ("sequence", pa.int32()),
            ("view", pa.int32()),
            ("source", pa.string()),
            ("layout", pa.string()),
            ("frame_start", pa.int32()),
            ("clips", pa.int32()),  # clips of the whole sequence (on every row)
            ("content_hash", pa.string()),
            ("model_version", pa.string()),
            ("committed_at", pa.int64()),  # ns since the epoch; the newest content of a sequence wins
            # Footage: the input (file) the person was found in, their track, its span and a box per frame, as
            # [frame, x0, y0, x1, y1] * frames (the whole track on the mean row, the clip's frames on a clip row).
            ("input_id", pa.string()),
            ("track_id", pa.int32()),
            ("first_frame", pa.int32()),
            ("last_frame", pa.int32()),
            ("boxes", pa.list_(pa.float32())),
        ],
        metadata={"format": GALLERY_FORMAT},
    )


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


@dataclass
class Gallery:
    """A gallery directory on any pyarrow filesystem."""

    fs: pafs.FileSystem
    root: str

    @classmethod
    def at(cls, uri: str) -> Gallery:
        fs, path = resolve(uri)
        return cls(fs, path.rstrip("/"))

    def parts_dir(self, model_version: str) -> str:
        return _join(self.root, "parts", model_version)

    def part_files(self, model_version: str | None = None) -> list[str]:
        base = self.parts_dir(model_version) if model_version else _join(self.root, "parts")
        if self.fs.get_file_info(base).type != pafs.FileType.Directory:
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True))
        return sorted(
            i.path
            for i in infos
            if i.type == pafs.FileType.File and i.base_name.startswith("part-") and i.path.endswith(".parquet")
        )

    def model_versions(self) -> list[str]:
        base = _join(self.root, "parts")
        if self.fs.get_file_info(base).type != pafs.FileType.Directory:
            return []
        return sorted(i.base_name for i in self.fs.get_file_info(pafs.FileSelector(base)) if i.type.name == "Directory")

    def indexed_keys(self, model_version: str) -> set[tuple[str, str]]:
        """(input id, content_hash) of every input already committed for this model version (an input is one
        sequence, or a footage file whose person tracks are sequences of their own)."""
        files = self.part_files(model_version)
        if not files:
            return set()
        keys = set()
        for f in files:  # parts written before `input_id` existed have only sequence ids (one person each)
            t = pq.read_table(f, filesystem=self.fs, filters=[("clip_index", "==", MEAN_ROW)])
            ids = t["input_id"] if "input_id" in t.column_names else t["sequence_id"]
            for sid, iid, h in zip(
                t["sequence_id"].to_pylist(), ids.to_pylist(), t["content_hash"].to_pylist(), strict=True
            ):
                keys.add((iid or sid, h))
        return keys

    def commit(self, table: pa.Table, model_version: str) -> str:
        """Write one part atomically: to a hidden name, then renamed (object stores write whole objects)."""
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        final = _join(self.parts_dir(model_version), name)
        self.fs.create_dir(self.parts_dir(model_version), recursive=True)
        if self.fs.type_name == "local":
            tmp = _join(self.parts_dir(model_version), f".{name}.tmp")
            pq.write_table(table, tmp, filesystem=self.fs, compression="zstd")
            self.fs.move(tmp, final)
        else:
            pq.write_table(table, final, filesystem=self.fs, compression="zstd")
        return final

    def write_json(self, name: str, obj: Any) -> None:
        self._replace(name, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())

    def write_table(self, name: str, table: pa.Table) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        self._replace(name, sink.getvalue().to_pybytes())

    def _replace(self, name: str, data: bytes) -> None:
        self.fs.create_dir(self.root, recursive=True)
        final = _join(self.root, name)
        tmp = _join(self.root, f".{name}.{uuid.uuid4().hex[:8]}.tmp") if self.fs.type_name == "local" else final
        with self.fs.open_output_stream(tmp) as fh:
            fh.write(data)
        if tmp != final:
            self.fs.move(tmp, final)

    def read_table(self, name: str) -> pa.Table | None:
        path = _join(self.root, name)
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            return None
        return pq.read_table(path, filesystem=self.fs)

    def read_json(self, name: str) -> dict[str, Any] | None:
        path = _join(self.root, name)
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            return None
        with self.fs.open_input_stream(path) as fh:
            return json.loads(fh.read())


def read_gallery(
    uri: str, model_version: str | None = None, *, means_only: bool = False, columns: list[str] | None = None
) -> pa.Table:
    """The gallery's rows for one model version (default: the one the last run used), newest content per sequence."""
    g = Gallery.at(uri)
    if model_version is None:
        meta = g.read_json("_gallery.json") or {}
        versions = g.model_versions()
        model_version = meta.get("model_version") or (versions[-1] if versions else None)
        if model_version is None:
            raise FileNotFoundError(f"{uri} holds no gallery (no parts/ with vectors)")
    files = g.part_files(model_version)
    if not files:
        raise FileNotFoundError(f"{uri} has no vectors for model version {model_version}")
    flt = pads.field("clip_index") == MEAN_ROW if means_only else None
    table = pads.dataset(files, filesystem=g.fs, format="parquet").to_table(filter=flt)
    # A sequence re-indexed after its content changed: keep only its newest content.
    newest: dict[str, tuple[int, str]] = {}
    for sid, ts, h in zip(
        table["sequence_id"].to_pylist(),
        table["committed_at"].to_pylist(),
        table["content_hash"].to_pylist(),
        strict=True,
    ):
        if sid not in newest or ts > newest[sid][0]:
            newest[sid] = (ts, h)
    keep = np.array(
        [
            newest[s][1] == h
            for s, h in zip(table["sequence_id"].to_pylist(), table["content_hash"].to_pylist(), strict=True)
        ],
        dtype=bool,
    )
    table = table.filter(pa.array(keep)) if len(keep) and not keep.all() else table
    table = table.sort_by([("sequence_id", "ascending"), ("clip_index", "ascending")])
    return table.select(columns) if columns else table


def vectors(table: pa.Table) -> np.ndarray:
    """The embedding column as an array [N, D] float32."""
    col = table["embedding"].combine_chunks()
    return np.asarray(col.values.to_numpy(zero_copy_only=False), np.float32).reshape(len(col), -1)
