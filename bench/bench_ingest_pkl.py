"""Benchmark: `gait preprocess` (Ray Data, every CPU) on an OpenGait-pkl tree (`ID/TYPE/VIEW/*.pkl`) against a
one-process loop doing the same work (safe unpickling, silhouette alignment, clips, Parquet files), in one run.

    .venv/bin/python bench/bench_ingest_pkl.py /data/casia-b --subjects 4    # the first 4 subjects
    .venv/bin/python bench/bench_ingest_pkl.py /data/casia-b                 # all of it (13,592 sequences)

--subjects N links the first N subject folders (sorted) into a temporary tree of symlinks, file by file; nothing
of the dataset is copied. Both sides use OpenGait's crop, 44x64, with the casia-b preset's clips (T=30, S=15),
and both times include discovery. Also timed: the safe unpickling alone (what reading costs before any image
work). Shards go to a temporary folder that is deleted; only the numbers are kept.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.ingest.config import PRESETS, PreprocessConfig
from pipeline.ingest.errors import IngestError, Outcome
from pipeline.ingest.layouts import discover
from pipeline.ingest.manifest import manifest_to_table
from pipeline.ingest.pickle_frames import silhouette_array
from pipeline.ingest.preprocess import preprocess
from pipeline.ingest.schema import to_table
from pipeline.ingest.sequence import SequenceProcessor

CFG = PRESETS["casia-b"].with_changes(width=44, height=64)


def link_subjects(src: Path, n: int, dest: Path) -> Path:
    """The first `n` subject folders of `src` as a tree of symlinks to its pickles."""
    for subject in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))[:n]:
        for pkl in subject.rglob("*.pkl"):
            link = dest / pkl.relative_to(src)
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(pkl, link)
    return dest


def unpickle_only(src: Path) -> int:
    """Frames of every sequence's silhouettes, read and unpickled safely, and nothing else."""
    frames = 0
    for rec in discover(str(src))[0]:
        with contextlib.suppress(IngestError):  # a bad sequence: counted as failed by both sides
            frames += len(silhouette_array(list(rec.frames or ())))
    return frames


def same_work_one_process(src: Path, cfg: PreprocessConfig, out: Path) -> tuple[int, int]:
    """The pipeline's per-sequence work in one process: (frames, failed sequences). Clips are gathered into
    Parquet files of about `rows_per_file` rows, as the pipeline's tasks do."""
    records, errors = discover(str(src))
    processor = SequenceProcessor(cfg, cfg.hash(), with_joints=False, threads=1)
    out.mkdir(parents=True, exist_ok=True)
    frames, failed, pending, rows, files = 0, len(errors), [], 0, 0
    for row in manifest_to_table(records).to_pylist():
        outcome = Outcome(row["sequence_id"], row["source"])
        try:
            for clips in processor.clips({**row, "split": "train"}, outcome):
                table = to_table(clips)
                pending.append(table)
                rows += table.num_rows
                if rows >= cfg.rows_per_file:
                    pq.write_table(pa.concat_tables(pending), out / f"{files:05d}.parquet", compression="zstd")
                    pending, rows, files = [], 0, files + 1
        except IngestError:
            failed += 1
        frames += outcome.frames
    if pending:
        pq.write_table(pa.concat_tables(pending), out / f"{files:05d}.parquet", compression="zstd")
    return frames, failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="an OpenGait-pkl tree: ID/TYPE/VIEW/*.pkl")
    ap.add_argument("--subjects", type=int, default=0, help="only the first N subjects (0: all)")
    ap.add_argument("--repeats", type=int, default=2, help="alternate the two sides this many times; best kept")
    ap.add_argument("--out", default="bench/results/ingest_pkl.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pkl-"))
    try:
        src = link_subjects(args.src, args.subjects, work / "src") if args.subjects else args.src
        sequences = len(discover(str(src))[0])

        import ray

        from pipeline.common.ray_init import ensure_ray

        ensure_ray()
        cpus = int(ray.cluster_resources()["CPU"])
        preprocess(str(src), str(work / "warm"), CFG.with_changes(max_frames=CFG.clip_len))  # warm workers

        t0 = time.perf_counter()
        unpickled = unpickle_only(src)
        unpickle_s = time.perf_counter() - t0
        pipe_s, same_s, frames = [], [], 0
        for i in range(max(1, args.repeats)):
            t0 = time.perf_counter()
            frames, failed = same_work_one_process(src, CFG, work / f"same{i}")
            same_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            summary = preprocess(str(src), str(work / f"out{i}"), CFG)
            pipe_s.append(time.perf_counter() - t0)
            assert (summary.frames, summary.failed) == (frames, failed), (summary.line(), frames, failed)
            shutil.rmtree(work / f"same{i}")
            shutil.rmtree(work / f"out{i}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    best_pipe, best_same = min(pipe_s), min(same_s)
    result = {
        "benchmark": "ingest_pkl",
        "data": {"src": str(args.src), "subjects": args.subjects or "all", "sequences": sequences},
        "preprocess_config": CFG.to_dict(),
        "frames": frames,
        "failed_sequences": failed,
        "clips": summary.clips,
        "machine": f"{platform.machine()}, {cpus} Ray CPUs",
        "unpickle_only_s": round(unpickle_s, 2),
        "unpickle_only_frames_per_s": round(unpickled / unpickle_s, 1),
        "one_process_s": round(best_same, 2),
        "one_process_frames_per_s": round(frames / best_same, 1),
        "pipeline_s": round(best_pipe, 2),
        "pipeline_frames_per_s": round(frames / best_pipe, 1),
        "ratio": round(best_same / best_pipe, 2),
        "all_one_process_s": [round(x, 2) for x in same_s],
        "all_pipeline_s": [round(x, 2) for x in pipe_s],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
