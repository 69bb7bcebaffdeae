"""The manifest: one row per discovered sequence, the contract between discovery and the Ray Data stages.

Discovery is plain Python on the driver; what it finds is handed on as a PyArrow table, so that Ray Data can
split it across workers and it can be written beside the shards. Inputs that could not be used become
`InputError` rows instead of vanishing: inputs discovered = sequences written + errors.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from typing import Any

import pyarrow as pa

KINDS = ("video", "frames", "pickles", "stream")
MODALITIES = ("rgb", "silhouette")
MANIFEST_VERSION = "1"

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("sequence_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("layout", pa.string(), nullable=False),
        pa.field("frames", pa.list_(pa.string())),
        pa.field("subject", pa.string()),
        pa.field("condition", pa.string()),
        pa.field("sequence", pa.int32()),
        pa.field("view", pa.int32()),
        pa.field("modality", pa.string(), nullable=False),
        pa.field("annotation", pa.string()),
        pa.field("background", pa.string()),
    ],
    metadata={"manifest_version": MANIFEST_VERSION},
)


def sequence_id(key: str) -> str:
    """Stable id of a source: sha1 of its path relative to the dataset root (or of a stream's URL), 16 hex.

    Relative, so that the same dataset copied to other storage keeps its ids (and its resume state)."""
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class SequenceRecord:
    """One sequence to decode: a video, a folder of frames, or a live stream, with what its layout says of it."""

    sequence_id: str
    source: str  # video path/URI, frame or pickle folder path/URI, or stream URL / camera index
    kind: str  # "video" | "frames" | "pickles" | "stream"
    layout: str  # see pipeline.ingest.layouts.LAYOUTS
    frames: tuple[str, ...] | None = None  # frame folders: the frame files in frame order; pickles: by name
    subject: str | None = None  # None when unknown (unlabeled archives)
    condition: str | None = None  # nm / bg / cl / sh
    sequence: int | None = None
    view: int | None = None  # degrees
    modality: str = "rgb"  # "rgb" or "silhouette"
    annotation: str | None = None  # synthetic: ground-truth .npz
    background: str | None = None  # the empty-scene plate of the same subject and view, if known

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, not {self.modality!r}")
        if (self.kind in ("frames", "pickles")) != (self.frames is not None):
            raise ValueError("frames is given for frame and pickle folders and only for them")

    def sort_key(self) -> tuple[str, str, int, int, str]:
        return (
            self.subject or "",
            self.condition or "",
            self.sequence if self.sequence is not None else 0,
            self.view if self.view is not None else -1,
            self.source,
        )


@dataclass(frozen=True)
class InputError:
    """An input that was found but cannot be used; one row of errors.parquet."""

    source: str
    stage: str
    error_type: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_exception(cls, source: str, stage: str, exc: BaseException) -> InputError:
        return cls(source, stage, type(exc).__name__, str(exc))


def manifest_to_table(records: list[SequenceRecord]) -> pa.Table:
    """Records → a table with MANIFEST_SCHEMA (frame lists as list<string>)."""
    columns: dict[str, list[Any]] = {f.name: [] for f in fields(SequenceRecord)}
    for r in records:
        for name, values in columns.items():
            v = getattr(r, name)
            values.append(list(v) if name == "frames" and v is not None else v)
    return pa.Table.from_pydict(columns, schema=MANIFEST_SCHEMA)


def table_to_manifest(table: pa.Table) -> list[SequenceRecord]:
    """The inverse of manifest_to_table; columns missing from an older table take their defaults."""
    names = [f.name for f in fields(SequenceRecord) if f.name in table.column_names]
    out = []
    for row in table.select(names).to_pylist():
        if row.get("frames") is not None:
            row["frames"] = tuple(row["frames"])
        if row.get("modality") is None:
            row.pop("modality", None)
        out.append(SequenceRecord(**row))
    return out
