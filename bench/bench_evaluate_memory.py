"""Benchmark: peak memory of `gait evaluate` on two dataset sizes; it must not grow with the number of clips.

    .venv/bin/python bench/bench_evaluate_memory.py --model M --shards SMALL LARGE     # two shard directories
    .venv/bin/python bench/bench_evaluate_memory.py --model M --shards S --fraction 0.5  # S and half its people
    .venv/bin/python bench/bench_evaluate_memory.py --shards S                          # no model: no evaluate side

Every side runs in a fresh process per size, and the memory of its whole process tree (driver, raylet, Ray
workers) is sampled every 0.1 s (bench/memory.py): summed RSS (shared object-store pages counted once per process
that maps them: an upper bound), summed PSS (shared pages divided among their users: the real footprint), the
private heaps alone, and the driver's own RSS. The sides:
- `evaluate`: `gait evaluate` itself (Ray, TensorFlow and the embedding actor start anew);
- `ray_data_read`: the control: the same Ray Data read of the same clips as evaluate's embedding, through a
  do-nothing actor; what it grows by is Ray Data's reading, not the evaluation's code;
- `gei_streamed`: the GEI baseline as `gait evaluate` computes it now (a batch of clips at a time);
- `gei_in_memory`: the GEI baseline as it was computed before (every clip's silhouettes loaded at once): the
  baseline the streaming is measured against.

With one shard directory and `--fraction f`, the smaller size is a view of it holding an evenly spaced f of the
subjects (train and test alike; every clip row of theirs, in files of the source's rows per file, copied batch
by batch into `--work`), so the two sizes differ in clips and sequences by 1/f with the same clip and file
shape. Memory may grow with sequences (a GEI and a vector each: H×W×4 + D×4 bytes), not with clips.
`--object-store-mb` caps the embedded Ray's object store (its pages stay allocated once touched, so on a small
dataset the default, 30% of memory, is never filled and its high-water mark follows the data read).
Results: bench/results/evaluate_memory.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.memory import PeakMemory  # noqa: E402
from pipeline.evaluate.run import GEI_SPLITS  # noqa: E402
from pipeline.evaluate.shard_stream import shard_dataset  # noqa: E402
from pipeline.ingest.shards import read_meta, tensor_specs  # noqa: E402

# The two GEI sides, each run as `python -c SIDE shards` in a fresh process.
GEI_STREAMED = f"""
import sys
from pipeline.evaluate.gei import stream_geis
ids, geis = stream_geis(sys.argv[1], splits={GEI_SPLITS!r})
print(len(ids), geis.shape)
"""
GEI_IN_MEMORY = f"""
import sys
from pipeline.evaluate.gei import sequence_geis
from pipeline.ingest.shards import load_clips
c = load_clips(sys.argv[1], columns=["sequence_id", "frame_start", "num_frames", "silhouettes"], splits={GEI_SPLITS!r})
ids, geis = sequence_geis(c["silhouettes"], c["sequence_id"], c["frame_start"], c["num_frames"])
print(len(ids), geis.shape)
"""
EVALUATE = "import sys; from pipeline.cli import main; sys.exit(main(sys.argv[1:]))"
# The control: `gait evaluate`'s Ray Data read of the same clips, through a do-nothing actor instead of the model.
# Whatever it grows by is Ray Data's reading, not the evaluation's code.
RAY_DATA_READ = """
import sys
import numpy as np
import pyarrow as pa
import ray
from pipeline.common.ray_init import ensure_ray
from pipeline.common.read_ahead import limit_read_ahead
from pipeline.evaluate.run import EMBED_BUFFER_BYTES_PER_ACTOR
from pipeline.ingest.shards import read_clips

class Nothing:
    def __call__(self, t):
        return t.select(["sequence_id"]).append_column("x", pa.array(np.zeros(t.num_rows, np.float32)))

ensure_ray()
ds = read_clips(sys.argv[1], columns=["sequence_id", "clip_index", sys.argv[2]], splits=["gallery", "probe", "val"],
                decode=False)
ds = ds.map_batches(Nothing, batch_size=64, batch_format="pyarrow", num_cpus=1,
                    compute=ray.data.ActorPoolStrategy(min_size=1, max_size=1))
limit_read_ahead(ds, 2 * EMBED_BUFFER_BYTES_PER_ACTOR)
print(sum(b.num_rows for b in ds.iter_batches(batch_format="pyarrow", batch_size=None)), "clips read")
"""


def subset_view(shards: Path, out: Path, fraction: float) -> Path:
    """A shard directory holding an evenly spaced `fraction` of the subjects of `shards` (every row of theirs, in
    order), written in batches into files of the source's median rows per file, so that the two sizes differ in
    the number of clips and files, not in the size of a file (what one Parquet read holds at once)."""
    done = out / "_manifest.json"
    made = json.loads(done.read_text()) if done.is_file() else {}
    if made.get("subset_of") == str(shards) and made.get("fraction") == fraction:
        return out  # made by an earlier run with the same --work
    shutil.rmtree(out, ignore_errors=True)
    meta = read_meta(str(shards))
    files = shard_dataset(str(shards)).files
    rows_per_file = int(statistics.median(pq.ParquetFile(f).metadata.num_rows for f in files))
    manifest = pq.read_table(shards / "manifest.parquet")
    subjects = sorted({s for s in manifest["subject"].to_pylist() if s is not None})
    keep = [s for i, s in enumerate(subjects) if int((i + 1) * fraction) > int(i * fraction)]
    if not keep or len(keep) == len(subjects):
        raise SystemExit(f"--fraction {fraction} keeps {len(keep)} of {len(subjects)} subjects: choose another")
    wanted = pa.array(keep)
    (out / "shards").mkdir(parents=True)
    schema = pq.ParquetFile(files[0]).schema_arrow
    writer, written, part = None, 0, 0
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=64):
            rows = batch.filter(pc.is_in(batch["subject"], value_set=wanted))
            while rows.num_rows:
                if writer is None:
                    writer = pq.ParquetWriter(out / "shards" / f"part-{part:05d}.parquet", schema, compression="zstd")
                take = rows.slice(0, rows_per_file - written)
                writer.write_batch(take)
                written, rows = written + take.num_rows, rows.slice(take.num_rows)
                if written == rows_per_file:
                    writer.close()
                    writer, written, part = None, 0, part + 1
    if writer is not None:
        writer.close()
    pq.write_table(manifest.filter(pc.is_in(manifest["subject"], value_set=wanted)), out / "manifest.parquet")
    done.write_text(json.dumps(meta | {"subset_of": str(shards), "subjects_kept": keep, "fraction": fraction}))
    return out


def describe(shards: Path) -> dict[str, Any]:
    """Clips, sequences and bytes of pixels of a shard directory (from Parquet footers and the manifest)."""
    dataset = shard_dataset(str(shards))
    clips = sum(pq.ParquetFile(f).metadata.num_rows for f in dataset.files)
    manifest = pq.read_table(shards / "manifest.parquet", columns=["sequence_id", "split", "error_type"])
    written = manifest.filter(pc.is_null(manifest["error_type"]))
    specs = tensor_specs(dataset.schema)
    pixels = {
        f"{name}_mb": round(clips * math.prod(specs[name][0]) * specs[name][1].itemsize / 2**20, 1)
        for name in ("frames", "silhouettes")
        if name in specs
    }
    return {
        "shards": str(shards),
        "clips": clips,
        "sequences": written.num_rows,
        "subjects": len(set(pq.read_table(shards / "manifest.parquet", columns=["subject"])["subject"].to_pylist())),
        "files": len(dataset.files),
        "clip_shape": {k: list(v[0]) for k, v in specs.items() if k in ("frames", "silhouettes")},
        **pixels,
    }


def _role(name: str, first: bool) -> str:
    if first:
        return "driver"
    return "ray workers" if name.split(" ", 1)[-1].startswith("ray::") else "ray services (raylet, gcs, …)"


def measured(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `cmd` in a fresh process: its tree's peak RSS (and PSS, which counts shared object-store pages once),
    the driver's own peak, the tree's RSS by role at the peak, and its seconds."""
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        with PeakMemory(root=proc.pid, detail=True) as mem:
            rc = proc.wait()
    if rc != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} … failed ({rc}); its output: {log}")
    roles: dict[str, int] = {}
    for i, (name, m) in enumerate(mem.at_peak.items()):
        roles[_role(name, i == 0)] = roles.get(_role(name, i == 0), 0) + m["rss"]
    return {
        "peak_rss_mb": round(mem.peak / 2**20),
        "peak_pss_mb": round(mem.peak_pss / 2**20),
        "peak_private_heap_mb": round(mem.peak_anon / 2**20),
        "driver_peak_rss_mb": round(mem.peak_root / 2**20),
        "rss_at_peak_by_role_mb": {k: round(v / 2**20) for k, v in roles.items()},
        "processes_at_peak": len(mem.at_peak),
        "largest_processes_mb": {  # each one's own peak over the run
            m["name"]: {"rss": round(m["rss"] / 2**20), "pss": round(m["pss"] / 2**20)}
            for m in sorted(mem.process_peaks.values(), key=lambda m: -m["rss"])[:6]
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", nargs="+", required=True, help="one shard directory (with --fraction) or two")
    ap.add_argument("--model", help="model directory for `gait evaluate` (without it: the GEI sides only)")
    ap.add_argument("--fraction", type=float, default=0.5, help="with one --shards: the smaller size's share")
    ap.add_argument("--work", help="where the subset view goes (default: a temporary directory, removed)")
    ap.add_argument("--actors", type=int, default=1, help="`gait evaluate --actors`")
    ap.add_argument(
        "--object-store-mb",
        type=int,
        default=0,
        help="cap the embedded Ray's object store (0: Ray's default, 30%% of memory); its pages stay allocated once "
        "touched, so a cap the size of a cluster node's makes the two sizes comparable on a small dataset",
    )
    ap.add_argument(
        "--sides", default="evaluate,ray_data_read,gei_streamed,gei_in_memory", help="which to measure (comma list)"
    )
    ap.add_argument("--out", default="bench/results/evaluate_memory.json")
    args = ap.parse_args()
    if len(args.shards) > 2:
        raise SystemExit("--shards: one directory (with --fraction) or two")
    sides = set(args.sides.split(","))
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-eval-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if len(args.shards) == 1:
            full = Path(args.shards[0]).resolve()
            sizes = [subset_view(full, work / "subset", args.fraction), full]
        else:
            sizes = [Path(s).resolve() for s in args.shards]
        results = []
        for i, shards in enumerate(sizes):
            row = describe(shards)
            py = sys.executable
            if "gei_streamed" in sides:
                row["gei_streamed"] = measured([py, "-c", GEI_STREAMED, str(shards)], work / f"gei-streamed-{i}.log")
            if "gei_in_memory" in sides:
                row["gei_in_memory"] = measured([py, "-c", GEI_IN_MEMORY, str(shards)], work / f"gei-in-mem-{i}.log")
            store = {"RAY_DEFAULT_OBJECT_STORE_MAX_MEMORY_BYTES": str(args.object_store_mb * 2**20)}
            store = store if args.object_store_mb else {}
            if "ray_data_read" in sides:
                column = (
                    json.loads((Path(args.model) / "config.json").read_text())["column"] if args.model else "frames"
                )
                cmd = [py, "-c", RAY_DATA_READ, str(shards), column]
                row["ray_data_read"] = measured(cmd, work / f"ray-data-read-{i}.log", store)
            if args.model and "evaluate" in sides:
                report = work / f"evaluation-{i}"
                cmd = [py, "-c", EVALUATE, "evaluate", "--model", args.model, "--shards", str(shards)]
                cmd += ["--out", str(report), "--actors", str(args.actors)]
                row["evaluate"] = measured(cmd, work / f"evaluate-{i}.log", store)
                metrics = json.loads((report / "metrics.json").read_text())
                row["evaluate"]["rank1"] = metrics["rank1"]
                row["evaluate"]["map"] = metrics["map"]
            results.append(row)
            print(json.dumps(row, indent=2), flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    small, large = results
    measured_sides = [s for s in ("evaluate", "ray_data_read", "gei_streamed", "gei_in_memory") if s in large]
    growth = {}
    for side in measured_sides:
        growth[side] = {}
        for key in ("peak_rss_mb", "peak_pss_mb", "peak_private_heap_mb", "driver_peak_rss_mb"):
            d_mb = large[side][key] - small[side][key]
            growth[side][key] = {
                "ratio_large_over_small": round(large[side][key] / max(1, small[side][key]), 2),
                "mb_per_1000_clips": round(1000 * d_mb / max(1, large["clips"] - small["clips"]), 1),
            }
    result = {
        "benchmark": "evaluate_memory",
        "machine": platform.machine(),
        "clips_ratio_large_over_small": round(large["clips"] / small["clips"], 2),
        "object_store_mb": args.object_store_mb or "Ray's default",
        "sizes": results,
        "growth": growth,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"growth": growth, "clips": [small["clips"], large["clips"]]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
