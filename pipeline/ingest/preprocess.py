"""`gait preprocess`: a Ray Data pipeline from a dataset (or a stream) to Parquet shards.

    manifest rows ─► map_batches(decode → find person → crop → align → window) ─► write_parquet(OUT/shards)
                       └─ per-sequence outcome ─► OutcomeLog actor ─► errors.parquet, manifest.parquet

OUT is built in a hidden sibling and moved into place at the end, with `_manifest.json` written last: a crash
never leaves a half-written dataset that looks complete. Every discovered input ends in the shards or in
errors.parquet, and the job checks that before it succeeds.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline import __version__
from pipeline.common.storage import replace_dir, resolve
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.errors import (
    ERRORS_SCHEMA,
    IngestError,
    Outcome,
    OutcomeLog,
    error_lines,
    input_tracks,
    track_counts,
    track_errors,
)
from pipeline.ingest.layouts import Survey, survey
from pipeline.ingest.manifest import manifest_to_table
from pipeline.ingest.schema import SCHEMA_VERSION, to_table
from pipeline.ingest.sequence import SequenceProcessor
from pipeline.ingest.splits import assign_splits, auto_protocol


@dataclass
class PreprocessSummary:
    out: str
    layout: str
    discovered: int
    written: int
    failed: int
    clips: int
    frames: int
    seconds: float
    splits: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    tracks: dict[str, int] = field(default_factory=dict)  # footage: person tracks found, kept, dropped (why)

    def line(self) -> str:
        timing = (
            f"in {self.seconds:.1f} s ({self.frames / self.seconds:.0f} frames/s)" if self.seconds > 0 else "(reused)"
        )
        return (
            f"preprocess: {self.discovered} sequences discovered = {self.written} written + {self.failed} failed; "
            f"{self.clips} clips from {self.frames} frames {timing} → {self.out}"
        )

    def lines(self) -> list[str]:
        out = [self.line(), "  splits: " + ", ".join(f"{k} {v}" for k, v in sorted(self.splits.items()))]
        if self.tracks:
            t = self.tracks
            out.append(
                f"  person tracks: {t['found']} found = {t['kept']} kept + {t['short']} too short + "
                f"{t['low_quality']} of low quality (in errors.parquet) + {t['not_chosen']} not chosen "
                "(a labelled source is one person)"
            )
        return out + error_lines(self.errors)


def process_batch(
    batch: dict[str, np.ndarray], *, cfg: dict[str, Any], config_hash: str, with_joints: bool, log: Any
) -> Iterator[pa.Table]:
    """Ray Data UDF: each row holds one manifest record (JSON). Clips are gathered into tables of about
    `rows_per_file` rows (one Parquet file each); each sequence's outcome goes to the log."""
    import cv2
    import ray

    cv2.setNumThreads(1)  # the task holds one CPU: OpenCV's own thread pool would only contend with the others
    config = PreprocessConfig.from_dict(cfg)
    processor = SequenceProcessor(config, config_hash, with_joints, threads=1)
    pending: list[pa.Table] = []
    rows = 0
    sent = []  # outcome calls in flight; awaited once at the end, so none is lost when the task ends
    for blob in batch["record"]:
        rec = json.loads(blob)
        outcome = Outcome(rec["sequence_id"], rec["source"])
        written = 0
        try:
            for clips in processor.clips(rec, outcome):
                table = to_table(clips)
                written += table.num_rows
                pending.append(table)
                rows += table.num_rows
                if rows >= config.rows_per_file:
                    yield pa.concat_tables(pending)
                    pending, rows = [], 0
        except IngestError as exc:
            outcome.stage, outcome.error_type, outcome.message = exc.stage, exc.error_type, exc.message
        except Exception as exc:  # an input must never take the job down: it becomes an error row
            outcome.stage, outcome.error_type, outcome.message = "process", type(exc).__name__, str(exc) or repr(exc)
        if outcome.error_type and written:
            # Clips already made stay (a long video broken near its end keeps what decoded); noted, not failed.
            outcome.clips, outcome.warning = written, f"{outcome.error_type}: {outcome.message}"
            outcome.stage = outcome.error_type = outcome.message = None
        sent.append(log.record.remote(outcome.to_dict()))
    if pending:
        yield pa.concat_tables(pending)
    ray.get(sent)


def auto_sequences_per_task(n: int, resources: dict[str, float]) -> int:
    """About four tasks per CPU of the cluster, 1 to 32 sequences each."""
    cpus = max(1, int(resources.get("CPU", 1)))
    return int(min(32, max(1, -(-n // (4 * cpus)))))


def _write_table(fs: pafs.FileSystem, path: str, table: pa.Table) -> None:
    with fs.open_output_stream(path) as fh:
        pq.write_table(table, fh)


def _write_json(fs: pafs.FileSystem, path: str, obj: Any) -> None:
    with fs.open_output_stream(path) as fh:
        fh.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def _is_nonempty_dir(fs: pafs.FileSystem, path: str) -> bool:
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return False
    if info.type != pafs.FileType.Directory:
        return True
    return bool(fs.get_file_info(pafs.FileSelector(path, recursive=False)))


def shard_rows(fs: pafs.FileSystem, shards: str) -> int:
    """Rows in the written shards, from the Parquet footers only."""
    if fs.get_file_info(shards).type == pafs.FileType.NotFound:
        return 0
    files = [f.path for f in fs.get_file_info(pafs.FileSelector(shards, recursive=True)) if f.path.endswith(".parquet")]
    return sum(pq.ParquetFile(fs.open_input_file(f)).metadata.num_rows for f in files)


def preprocess(
    src: str,
    out: str,
    cfg: PreprocessConfig | None = None,
    *,
    layout: str | None = None,
    overwrite: bool = False,
    ray_address: str | None = None,
    found: Survey | None = None,
) -> PreprocessSummary:
    """Decode `src` into clip shards under `out`. Raises before any work if SRC is missing or OUT is taken.
    `found`: the caller's `survey` of SRC with this layout, when it has one (SRC is then not listed again)."""
    import ray

    from pipeline.common.ray_init import ensure_ray

    cfg = cfg or PreprocessConfig()
    t0 = time.perf_counter()
    found = found or survey(src, layout)  # a missing SRC fails here, before anything is written
    records, discovery_errors = found.records, found.errors
    out_fs, out_path = resolve(out)
    out_path = out_path.rstrip("/")
    if _is_nonempty_dir(out_fs, out_path) and not overwrite:
        raise FileExistsError(
            f"{out} already exists; pass --overwrite to replace it (the old one stays until the new one is complete)"
        )
    parent, name = out_path.rsplit("/", 1) if "/" in out_path else ("", out_path)
    staging = f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:8]}"
    out_fs.create_dir(staging, recursive=True)

    protocol = cfg.protocol if cfg.protocol != "auto" else auto_protocol(records)
    splits = assign_splits(
        records, protocol, seed=cfg.split_seed, train_fraction=cfg.train_fraction, val_subjects=cfg.val_subjects
    )
    config_hash = cfg.hash()
    with_joints = bool(records) and all(r.annotation for r in records)
    items = []
    for rec, split in zip(records, splits, strict=True):
        row = manifest_to_table([rec]).to_pylist()[0]
        row["split"] = split
        items.append({"record": json.dumps(row)})

    try:
        ensure_ray(ray_address)
        log = OutcomeLog.remote()
        if items:
            # One block per sequence; a task takes a batch of them: few tasks (each costs scheduling and a
            # file), yet about four per CPU, so that the last ones finish together.
            per_task = cfg.sequences_per_task or auto_sequences_per_task(len(items), ray.cluster_resources())
            ds = ray.data.from_items(items, override_num_blocks=len(items))
            ds = ds.map_batches(
                process_batch,
                batch_size=per_task,
                num_cpus=1,
                fn_kwargs={"cfg": cfg.to_dict(), "config_hash": config_hash, "with_joints": with_joints, "log": log},
            )
            ds.write_parquet(
                f"{staging}/shards",
                filesystem=out_fs,
                compression="zstd",
                use_dictionary=["sequence_id", "source", "layout", "subject", "condition", "split", "config_hash"],
            )
        outcomes = ray.get(log.all.remote())
        ray.kill(log)

        by_id = {r.sequence_id: r for r in records}
        missing = set(by_id) - set(outcomes)
        if missing:
            raise RuntimeError(
                f"{len(missing)} sequences have no outcome (e.g. {sorted(missing)[:3]}); refusing to finish"
            )
        errors = [e.to_dict() | {"sequence_id": None} for e in discovery_errors]
        errors += [
            {k: o[k] for k in ("sequence_id", "source", "stage", "error_type", "message")}
            for o in outcomes.values()
            if o["error_type"]
        ]
        inputs_failed = len(errors)
        tracks = [row for r in records for row in input_tracks(r.sequence_id, r.source, outcomes[r.sequence_id])]
        errors += track_errors(tracks)
        ok = [o for o in outcomes.values() if not o["error_type"]]
        clips = sum(o["clips"] for o in ok)
        written_rows = shard_rows(out_fs, f"{staging}/shards")
        out_fs.create_dir(f"{staging}/shards", recursive=True)  # present even when every input failed
        if written_rows != clips:
            raise RuntimeError(f"the shards hold {written_rows} clips but the workers reported {clips}")
        discovered = len(records) + len(discovery_errors)
        if discovered != len(ok) + inputs_failed:
            raise RuntimeError(f"tally mismatch: {discovered} discovered ≠ {len(ok)} written + {inputs_failed} failed")

        _write_table(out_fs, f"{staging}/errors.parquet", pa.Table.from_pylist(errors, schema=ERRORS_SCHEMA))
        manifest = manifest_to_table(records)
        status = [outcomes[r.sequence_id] for r in records]
        manifest = manifest.append_column("split", pa.array(splits, pa.string()))
        for col, typ in (("clips", pa.int32()), ("frames_decoded", pa.int32()), ("padded", pa.int32())):
            key = {"frames_decoded": "frames"}.get(col, col)
            manifest = manifest.append_column(col, pa.array([s[key] for s in status], typ))
        manifest = manifest.append_column("error_type", pa.array([s["error_type"] for s in status], pa.string()))
        manifest = manifest.append_column("warning", pa.array([s.get("warning") for s in status], pa.string()))
        for col, kind in (("tracks", None), ("tracks_short", "short"), ("tracks_low_quality", "low_quality")):
            counts = [sum(t["dropped"] == kind for t in s["tracks"]) for s in status]
            manifest = manifest.append_column(col, pa.array(counts, pa.int32()))
        _write_table(out_fs, f"{staging}/manifest.parquet", manifest)
        if tracks:
            _write_table(out_fs, f"{staging}/tracks.parquet", pa.Table.from_pylist(tracks))

        frames = sum(o["frames"] for o in outcomes.values())
        seconds = time.perf_counter() - t0
        split_counts: dict[str, int] = {}
        for rec, split in zip(records, splits, strict=True):
            if outcomes[rec.sequence_id]["error_type"] is None:
                split_counts[split] = split_counts.get(split, 0) + 1
        layout_name = records[0].layout if records else (layout or "generic")
        _write_json(
            out_fs,
            f"{staging}/_manifest.json",
            {
                "schema_version": SCHEMA_VERSION,
                "created_by": f"gait-pipeline {__version__}",
                "source": src,
                "layout": layout_name,
                "protocol": protocol,
                "config": cfg.to_dict(),
                "config_hash": config_hash,
                "inputs_hash": found.inputs_hash,
                "content_hash": content_hash(config_hash, layout_name, found.inputs_hash),
                "columns": {"joints": with_joints, "silhouettes": cfg.silhouettes},
                "counts": {
                    "discovered": discovered,
                    "written": len(ok),
                    "failed": inputs_failed,
                    "tracks": track_counts(tracks),
                    "clips": clips,
                    "frames": frames,
                    "padded_sequences": sum(1 for o in ok if o["padded"]),
                    "splits": split_counts,
                },
                "timings": {"seconds": round(seconds, 2), "frames_per_second": round(frames / max(seconds, 1e-9), 1)},
            },
        )
    except BaseException:
        out_fs.delete_dir(staging)
        raise

    # Swap into place: the old OUT goes only once the new one is complete (on object stores, which cannot rename
    # a directory, `_manifest.json` goes first and comes back last: readers take it as the mark of completeness).
    replace_dir(out_fs, staging, out_path, marker="_manifest.json")
    return PreprocessSummary(
        out=out,
        layout=layout_name,
        discovered=discovered,
        written=len(ok),
        failed=inputs_failed,
        clips=clips,
        frames=frames,
        seconds=seconds,
        splits=split_counts,
        errors=errors,
        tracks=track_counts(tracks),
    )


def read_summary(out: str) -> PreprocessSummary | None:
    """The summary of a complete shard directory (None when `_manifest.json` is missing)."""
    fs, path = resolve(out)
    path = path.rstrip("/")
    if fs.get_file_info(f"{path}/_manifest.json").type == pafs.FileType.NotFound:
        return None
    with fs.open_input_stream(f"{path}/_manifest.json") as fh:
        meta = json.loads(fh.read())
    errors = pq.read_table(fs.open_input_file(f"{path}/errors.parquet")).to_pylist()
    c = meta["counts"]
    return PreprocessSummary(
        out=out,
        layout=meta["layout"],
        discovered=c["discovered"],
        written=c["written"],
        failed=c["failed"],
        clips=c["clips"],
        frames=c["frames"],
        seconds=0.0,
        splits=c["splits"],
        errors=errors,
        tracks=c.get("tracks") or {},
    )


def content_hash(config_hash: str, layout: str, inputs_hash: str | None) -> str:
    """The shards' identity (16 hex): the same inputs, layout and config give the same one, so training finds
    its checkpoints again after the shards are remade; anything else gives another. A stream's frames are new
    on every read: each recording gets its own."""
    inputs = inputs_hash if inputs_hash is not None else f"recording {uuid.uuid4().hex}"
    return hashlib.sha256(f"{config_hash}\n{layout}\n{inputs}".encode()).hexdigest()[:16]


def reusable(
    src: str, out: str, cfg: PreprocessConfig, layout: str | None = None, found: Survey | None = None
) -> PreprocessSummary | None:
    """The summary of `out` if it is complete and was made from `src` as it is now (the same files, sizes and
    modification times) with this config, else None. Complete shards that are not reusable say why. `found`:
    the caller's `survey` of SRC, when it has one."""
    existing = read_summary(out)
    if existing is None:
        return None
    fs, path = resolve(out)
    with fs.open_input_stream(f"{path.rstrip('/')}/_manifest.json") as fh:
        meta = json.loads(fh.read())
    if meta["source"] != src:
        why = f"another source ({meta['source']})"
    elif meta["config_hash"] != cfg.hash():
        why = "another config"
    elif layout is not None and meta["layout"] != layout:
        why = f"another layout ({meta['layout']})"
    elif "inputs_hash" not in meta:
        why = "a version that did not record its inputs"
    elif meta["inputs_hash"] != (found or survey(src, layout)).inputs_hash:
        why = "other inputs: files under the source were added, removed or changed since"
    else:
        return existing
    print(f"preprocess: {out} was made from {why}; making it again", flush=True)
    return None
