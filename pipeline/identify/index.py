"""`gait index ARCHIVE --model DIR --out GALLERY`: bulk indexing as Ray Data batch inference.

    discover (any layout) ─► map_batches(fingerprint) ─► skip what GALLERY holds for this model version
      ─► map_batches(process_batch: decode → person → crop → window; the same UDF as `gait preprocess`)
      ─► map_batches(ClipEmbedder, ActorPoolStrategy; GPUs when asked) ─► driver: complete sequences
      ─► GALLERY/parts/<model_version>/part-*.parquet (clip rows + a mean row each, committed atomically)

Resumable and idempotent: a sequence is keyed by its id (the source's path) and a hash of its content; a run
skips the keys already committed for its model version, so a re-run adds no row and a run after a crash picks
up where the last committed part ended. Inputs that fail end in GALLERY/errors.parquet, and so does each person
track of footage refused for its quality; the summary counts every track found.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.common.model_dir import ModelInfo
from pipeline.common.storage import resolve
from pipeline.identify.embed import ClipEmbedder, mean_vector, vector_column
from pipeline.identify.gallery import MEAN_ROW, Gallery, gallery_schema
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.errors import ERRORS_SCHEMA, OutcomeLog, error_lines, input_tracks, track_counts, track_errors
from pipeline.ingest.layouts import discover
from pipeline.ingest.manifest import manifest_to_table
from pipeline.ingest.preprocess import auto_sequences_per_task, process_batch
from pipeline.ingest.schema import clip_frames

_CHUNK = 1 << 20


@dataclass
class IndexSummary:
    out: str
    model_version: str
    discovered: int
    skipped: int  # already in the gallery for this model version
    indexed: int
    failed: int
    clips: int
    seconds: float
    errors: list[dict[str, Any]] = field(default_factory=list)  # the inputs that failed, then refused tracks
    tracks: dict[str, int] = field(default_factory=dict)  # footage: person tracks found, indexed, dropped (why)

    def lines(self) -> list[str]:
        rate = ""
        if self.seconds > 0 and self.indexed:  # footage in its people, since one video can hold dozens
            per_s = (self.tracks["kept"], "person tracks") if self.tracks else (self.indexed, "sequences")
            rate = f" ({per_s[0] / self.seconds:.2f} {per_s[1]}/s)"
        out = [
            f"index: {self.discovered} sequences discovered = {self.indexed} indexed + {self.skipped} already "
            f"indexed + {self.failed} failed; {self.clips} clip vectors in {self.seconds:.1f} s{rate} → {self.out} "
            f"(model {self.model_version})"
        ]
        if self.tracks:
            t = self.tracks
            out.append(
                f"  person tracks: {t['found']} found = {t['kept']} indexed + {t['short']} too short + "
                f"{t['low_quality']} of low quality (in errors.parquet) + {t['not_chosen']} not chosen "
                "(a labelled source is one person)"
            )
        return out + error_lines(self.errors)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": len(self.errors)}


def _hash_file(h: Any, uri: str) -> None:
    fs, path = resolve(uri)
    with fs.open_input_stream(path) as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)


def content_hash(rec: dict[str, Any]) -> str:
    """sha256 (16 hex) of what decides a sequence's vectors: its bytes (every frame of a folder, in order) and
    the side files preprocessing reads (ground truth, background plate)."""
    h = hashlib.sha256()
    files = list(rec["frames"]) if rec.get("frames") else [rec["source"]]
    for extra in ("annotation", "background"):
        if rec.get(extra):
            files.append(rec[extra])
    for f in files:
        h.update(f.rsplit("/", 1)[-1].encode() + b"\0")
        _hash_file(h, f)
    return h.hexdigest()[:16]


def fingerprint_batch(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ray Data UDF: the content hash of each record, or the error that kept it from being read."""
    hashes, errors = [], []
    for blob in batch["record"]:
        try:
            hashes.append(content_hash(json.loads(blob)))
            errors.append("")
        except Exception as exc:
            hashes.append("")
            errors.append(f"{type(exc).__name__}: {exc}")
    return {"record": batch["record"], "content_hash": np.array(hashes), "error": np.array(errors)}


def _sequence_rows(
    rows: list[dict[str, Any]], key: tuple[str, str], model_version: str, now: int, input_id: str
) -> list[dict]:
    """A sequence's clip rows plus its mean row (the clips' mean vector, L2-normalised); footage sequences carry
    their track, its span and its boxes."""
    rows = sorted(rows, key=lambda r: r["clip_index"])
    mean = mean_vector(np.stack([r["embedding"] for r in rows]))
    first = rows[0]
    clip_boxes = [_clip_boxes(r) for r in rows]
    path: dict[int, list[float]] = {}
    for boxes in clip_boxes:
        for i in range(0, len(boxes), 5):
            path.setdefault(int(boxes[i]), boxes[i : i + 5])
    frames = sorted(path)
    common = {k: first.get(k) for k in ("subject", "condition", "sequence", "view", "source", "layout", "track_id")}
    common |= {"sequence_id": key[0], "content_hash": key[1], "model_version": model_version, "input_id": input_id}
    common |= {"clips": len(rows), "committed_at": now}
    common |= {"first_frame": frames[0] if frames else None, "last_frame": frames[-1] if frames else None}
    whole = [v for f in frames for v in path[f]]
    out = [common | {"clip_index": MEAN_ROW, "frame_start": first["frame_start"], "embedding": mean, "boxes": whole}]
    out += [
        common
        | {"clip_index": r["clip_index"], "frame_start": r["frame_start"], "embedding": r["embedding"], "boxes": b}
        for r, b in zip(rows, clip_boxes, strict=True)
    ]
    return out


def _clip_boxes(row: dict[str, Any]) -> list[float]:
    """A clip row's boxes as [frame, x0, y0, x1, y1] * its real (unpadded) frames."""
    raw = row.get("boxes")
    if raw is None:
        return []
    frames = clip_frames(row["frame_start"], row.get("num_frames") or 0, row.get("frame_index"))
    boxes = np.frombuffer(raw, np.float32).reshape(-1, 4)[: len(frames)]
    return [float(v) for f, b in zip(frames, boxes, strict=True) for v in (f, *b.tolist())]


def expected_sequences(outcome: dict[str, Any]) -> dict[str, int]:
    """The sequences an input's outcome promises, with their clip counts: its kept person tracks (footage), or
    the input itself."""
    kept = [t for t in outcome.get("tracks") or [] if t["dropped"] is None]
    if kept:
        return {t["sequence_id"]: t["clips"] for t in kept}
    return {outcome["sequence_id"]: outcome["clips"]}


def _kept_track_errors(gallery: Gallery, sources: set[str]) -> list[dict[str, Any]]:
    """The refused person tracks of inputs this run skipped (indexed before, unchanged), from the last run's
    errors.parquet: a re-run rewrites the table and must not lose them."""
    last = gallery.read_table("errors.parquet")
    if last is None or not sources or "track_id" not in last.column_names:
        return []
    return [e for e in last.to_pylist() if e["track_id"] is not None and e["source"] in sources]


def _to_table(rows: list[dict[str, Any]], dim: int) -> pa.Table:
    schema = gallery_schema(dim)
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema if f.name != "embedding"}
    arrays = [
        vector_column(np.stack([r["embedding"] for r in rows]))
        if f.name == "embedding"
        else pa.array(cols[f.name], f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


# Reserved for each embedding actor (a model and a batch of clips). It also keeps Ray Data from fusing the
# decoding tasks into the actors (it fuses a task stage into an actor stage whose remote arguments are equal):
# fused, one actor decodes and then embeds, one after the other; apart, decoding runs in tasks on the other
# CPUs while the actor embeds (docs/benchmarks.md).
ACTOR_MEMORY = 1 << 30


def index_archive(
    archive: str,
    model_dir: str | Path,
    out: str,
    *,
    layout: str | None = None,
    actors: int = 1,
    cpus_per_actor: float = 1.0,
    gpus_per_actor: float = 0.0,
    threads_per_actor: int = 0,
    actor_memory: int = ACTOR_MEMORY,
    embed_batch: int = 32,
    sequences_per_task: int = 0,
    commit_every: int = 32,
    ray_address: str | None = None,
) -> IndexSummary:
    """Index every sequence of `archive` not yet in the gallery `out` for this model's version."""
    import ray

    from pipeline.common.ray_init import ensure_ray

    t0 = time.perf_counter()
    info = ModelInfo(model_dir)
    records, discovery_errors = discover(archive, layout)
    if any(r.kind == "stream" for r in records):
        raise ValueError(f"{archive} is a live stream; index recordings (files or frame folders), or use `gait watch`")
    gallery = Gallery.at(out)
    done = gallery.indexed_keys(info.version)
    # The model's own preprocessing, minus what the embedder does not read.
    cfg = PreprocessConfig.from_dict(
        info.preprocess | {"silhouettes": info.column == "silhouettes", "rows_per_file": embed_batch}
    )
    errors = [e.to_dict() | {"sequence_id": None} for e in discovery_errors]
    ensure_ray(ray_address)

    items = [{"record": json.dumps(manifest_to_table([r]).to_pylist()[0])} for r in records]
    todo: dict[str, dict[str, Any]] = {}  # input's sequence_id → record (with its content hash)
    skipped, skipped_sources = 0, set()
    if items:
        blocks = max(1, min(len(items), 4 * int(ray.cluster_resources().get("CPU", 1))))
        hashed = (
            ray.data.from_items(items, override_num_blocks=blocks)
            .map_batches(fingerprint_batch, batch_size=64)
            .take_all()
        )
        for row in hashed:
            rec = json.loads(row["record"])
            if row["error"]:
                etype, _, msg = row["error"].partition(": ")
                errors.append(
                    {
                        "sequence_id": rec["sequence_id"],
                        "source": rec["source"],
                        "stage": "read",
                        "error_type": etype,
                        "message": msg,
                    }
                )
            elif (rec["sequence_id"], row["content_hash"]) in done:
                skipped += 1
                skipped_sources.add(rec["source"])
            else:
                todo[rec["sequence_id"]] = rec | {"content_hash": row["content_hash"]}

    log = OutcomeLog.remote()
    pending: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)  # sequence → clip_index → row
    outcomes: dict[str, dict[str, Any]] = {}
    ready: list[list[dict[str, Any]]] = []  # complete sequences waiting to be committed
    tracks: list[dict[str, Any]] = []  # every person track of the footage indexed, kept or dropped
    indexed = clips = 0
    dim = 0

    cursor = 0

    def collect(final: bool) -> None:
        """Move sequences whose every clip has arrived into `ready`; commit parts of `commit_every` sequences."""
        nonlocal indexed, clips, ready, cursor
        new, cursor = ray.get(log.since.remote(cursor))
        outcomes.update({o["sequence_id"]: o for o in new})
        for input_id in [i for i in todo if i in outcomes and outcomes[i]["error_type"] is None]:
            promised = expected_sequences(outcomes[input_id])
            if any(len(pending.get(sid, {})) != n for sid, n in promised.items()):
                continue
            rec = todo.pop(input_id)
            tracks.extend(input_tracks(input_id, rec["source"], outcomes[input_id]))
            for sid in promised:
                rows = list(pending.pop(sid).values())
                ready.append(_sequence_rows(rows, (sid, rec["content_hash"]), info.version, time.time_ns(), input_id))
            indexed += 1
            clips += outcomes[input_id]["clips"]
        while len(ready) >= commit_every or (final and ready):
            part, ready = ready[:commit_every], ready[commit_every:]
            gallery.commit(_to_table([row for seq in part for row in seq], dim), info.version)

    try:
        if todo:
            work = [{"record": json.dumps({k: v for k, v in r.items() if k != "content_hash"})} for r in todo.values()]
            per_task = sequences_per_task or auto_sequences_per_task(len(work), ray.cluster_resources())
            ds = ray.data.from_items(work, override_num_blocks=len(work)).map_batches(
                process_batch,
                batch_size=per_task,
                num_cpus=1,
                fn_kwargs={"cfg": cfg.to_dict(), "config_hash": cfg.hash(), "with_joints": False, "log": log},
            )
            ds = ds.map_batches(
                ClipEmbedder,
                fn_constructor_kwargs={
                    "model_dir": info.uri,  # a URI is fetched by each actor on its own node (model_store)
                    "threads": threads_per_actor,
                    "batch": embed_batch,
                },
                batch_size=embed_batch,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, actors)),
                num_cpus=cpus_per_actor,
                num_gpus=gpus_per_actor,
                memory=actor_memory,
            )
            for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
                emb = batch["embedding"].combine_chunks()
                dim = emb.type.list_size
                vecs = np.asarray(emb.values.to_numpy(zero_copy_only=False), np.float32).reshape(len(emb), dim)
                for i, row in enumerate(batch.drop_columns(["embedding"]).to_pylist()):
                    pending[row["sequence_id"]][row["clip_index"]] = row | {"embedding": vecs[i]}
                collect(final=False)
        collect(final=True)
    finally:
        ray.kill(log)

    for sid, rec in todo.items():
        o = outcomes.get(sid)
        if o is None or o["error_type"] is None:
            # A sequence without an outcome, or whose clips did not all arrive, must not pass silently.
            raise RuntimeError(f"{rec['source']}: no complete result (outcome {o}, {len(pending.get(sid, {}))} clips)")
        errors.append({k: o[k] for k in ("sequence_id", "source", "stage", "error_type", "message")})
    discovered = len(records) + len(discovery_errors)
    if discovered != indexed + skipped + len(errors):
        raise RuntimeError(
            f"tally mismatch: {discovered} ≠ {indexed} indexed + {skipped} skipped + {len(errors)} failed"
        )
    failed = len(errors)
    errors += track_errors(tracks)  # an input indexed, one of its people refused: named, with the reason
    errors += _kept_track_errors(gallery, skipped_sources)
    gallery.write_table("errors.parquet", pa.Table.from_pylist(errors, schema=ERRORS_SCHEMA))
    seconds = time.perf_counter() - t0
    summary = IndexSummary(
        out, info.version, discovered, skipped, indexed, failed, clips, seconds, errors, track_counts(tracks)
    )
    gallery.write_json(
        "_gallery.json",
        {
            "format": "gait-gallery/1",
            "model_version": info.version,
            "model": info.uri,
            "archive": archive,
            "layout": records[0].layout if records else layout,
            "last_run": summary.to_dict(),
        },
    )
    return summary
