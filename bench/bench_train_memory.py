"""Benchmark: peak memory of `gait train` (the streaming P × K path) on two dataset sizes; it must not grow with
the number of clips.

    .venv/bin/python bench/bench_train_memory.py SHARDS --fraction 0.5 [--preset casia-b-cpu] [--steps 60]

Each size trains in a fresh process (`gait train --steps-per-epoch STEPS --gait-epochs 1`: Ray, Ray Train's
worker, Ray Data's readers and the validation pass start anew), and the summed RSS of its whole process tree
(driver, raylet, Ray workers) is sampled every 0.1 s (bench/memory.py): RSS (an upper bound: the object store's
shared pages count once per process that maps them), PSS (shared pages divided among those processes: the tree's
real footprint) and private (anonymous) memory. The ratio reported is PSS's. The smaller size is a view of SHARDS
holding an evenly spaced `fraction` of the people (bench_evaluate_memory.subset_view), so the sizes differ in
clips by about 1/fraction. Both take the same number of steps: what differs is only how much data there is to
stream. Results: bench/results/train_memory.json."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_evaluate_memory import subset_view  # noqa: E402
from bench.memory import PeakMemory  # noqa: E402
from pipeline.ingest.shards import split_counts  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "train_memory.json"
TRAIN = "import sys; from pipeline.cli import main; sys.exit(main(sys.argv[1:]))"


def train_peak(shards: Path, out: Path, preset: str, steps: int) -> dict:
    """Peak RSS of one `gait train` in a fresh process, with the clips it could stream."""
    cmd = [sys.executable, "-c", TRAIN, "train", str(shards), str(out), "--preset", preset]
    cmd += ["--steps-per-epoch", str(steps), "--gait-epochs", "1", "--overwrite"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with PeakMemory(interval=1.0, root=proc.pid, detail=True) as mem:  # PSS sampling is costly: once a second
        output, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"gait train failed on {shards}:\n{output[-3000:]}")
    clips, people = split_counts(str(shards), "train")
    return {
        "shards": str(shards),
        "train_clips": clips,
        "train_people": people,
        "peak_rss_gib": round(mem.peak / 2**30, 3),  # shared pages (the object store) once per process mapping them
        "peak_pss_gib": round(mem.peak_pss / 2**30, 3),  # shared pages divided among the processes mapping them
        "peak_private_gib": round(mem.peak_anon / 2**30, 3),  # anonymous memory: what the processes hold of their own
        "seconds": round(time.perf_counter() - t0, 1),
        # Each process's own peak (MiB), largest first: what grows, if anything does.
        "processes": sorted(
            (
                {"name": m["name"].split(" ", 1)[1][:60], "pss_mib": m["pss"] >> 20, "private_mib": m["anon"] >> 20}
                for m in mem.process_peaks.values()
                if m["pss"] > 64 << 20
            ),
            key=lambda m: -m["pss_mib"],
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shards", type=Path)
    ap.add_argument("--fraction", type=float, default=0.5)
    ap.add_argument("--preset", default="casia-b-cpu")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--work", type=Path, help="where the smaller view and the models go (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-train-memory-", dir=args.work) as d:
        small = subset_view(args.shards, Path(d) / "small", args.fraction)
        runs = []
        for shards in (small, args.shards):
            print(f"gait train on {shards} ({args.steps} steps) …", flush=True)
            runs.append(train_peak(shards, Path(d) / f"model-{len(runs)}", args.preset, args.steps))
            print(f"  { ({k: v for k, v in runs[-1].items() if k != 'processes'}) }", flush=True)
            for m in runs[-1]["processes"][:8]:
                print(f"    {m['pss_mib']:6d} MiB PSS, {m['private_mib']:6d} MiB private: {m['name']}", flush=True)
    growth = runs[1]["peak_pss_gib"] / runs[0]["peak_pss_gib"]
    clips = runs[1]["train_clips"] / runs[0]["train_clips"]
    result = {
        "command": f"python bench/bench_train_memory.py {args.shards} --fraction {args.fraction} "
        f"--preset {args.preset} --steps {args.steps}",
        "machine": {"python": platform.python_version()},
        "runs": runs,
        "clips_ratio": round(clips, 2),
        "peak_pss_ratio": round(growth, 3),
        "peak_rss_ratio": round(runs[1]["peak_rss_gib"] / runs[0]["peak_rss_gib"], 3),
        "peak_private_ratio": round(runs[1]["peak_private_gib"] / runs[0]["peak_private_gib"], 3),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"gait train peak memory (PSS of the process tree): {runs[0]['peak_pss_gib']:.2f} GiB with "
        f"{runs[0]['train_clips']} training clips, {runs[1]['peak_pss_gib']:.2f} GiB with {runs[1]['train_clips']} "
        f"(x{clips:.2f} clips, x{growth:.2f} memory; RSS x{result['peak_rss_ratio']:.2f}, private "
        f"x{result['peak_private_ratio']:.2f}; written to {RESULTS})"
    )


if __name__ == "__main__":
    main()
