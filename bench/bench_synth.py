"""Benchmark: synthetic-data generation, Ray tasks on every CPU against one process, in one run.

    .venv/bin/python bench/bench_synth.py            # 20 subjects × 10 sequences × 3 views × 60 frames
    .venv/bin/python bench/bench_synth.py --small    # a quick look

Both sides render and write the same files (byte-identical; the tests check that). Ray's start-up is timed on
its own and reported beside the ratio, since a user pays it once per job.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.synth import SynthConfig, generate_dataset

FULL = SynthConfig(
    subjects=20,
    sequences={"nm": 6, "bg": 2, "cl": 2},
    views=(18, 90, 162),
    frames=60,
    width=128,
    height=128,
    background_frames=0,
)


def timed_run(cfg: SynthConfig, parallel: bool) -> float:
    out = Path(tempfile.mkdtemp(prefix="bench-synth-")) / "data"
    try:
        t0 = time.perf_counter()
        generate_dataset(cfg, out, parallel=parallel, progress=False)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="4 subjects instead of 20")
    ap.add_argument("--repeats", type=int, default=1, help="alternate the two sides this many times; best kept")
    ap.add_argument("--out", default="bench/results/synth.json", help="where to write the result")
    args = ap.parse_args()
    cfg = FULL.with_changes(subjects=4) if args.small else FULL

    import ray

    from pipeline.common.ray_init import ensure_ray

    t0 = time.perf_counter()
    ensure_ray()
    ray_start = time.perf_counter() - t0
    cpus = int(ray.cluster_resources().get("CPU", 0))
    timed_run(cfg.with_changes(subjects=1, sequences={"nm": 1}), parallel=True)  # warm the worker pool

    ray_s, local_s = [], []
    for _ in range(args.repeats):
        ray_s.append(timed_run(cfg, parallel=True))
        local_s.append(timed_run(cfg, parallel=False))
    best_ray, best_local = min(ray_s), min(local_s)
    result = {
        "benchmark": "synth",
        "config": cfg.to_dict(),
        "frames": cfg.num_frames,
        "sequences": cfg.num_sequences,
        "ray_cpus": cpus,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "ray_start_s": round(ray_start, 2),
        "ray_s": round(best_ray, 2),
        "one_process_s": round(best_local, 2),
        "ray_frames_per_s": round(cfg.num_frames / best_ray, 1),
        "one_process_frames_per_s": round(cfg.num_frames / best_local, 1),
        "speedup": round(best_local / best_ray, 2),
        "speedup_with_ray_start": round(best_local / (best_ray + ray_start), 2),
        "all_ray_s": [round(x, 2) for x in ray_s],
        "all_one_process_s": [round(x, 2) for x in local_s],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(
        f"\n| synth ({cfg.num_frames} frames {cfg.width}x{cfg.height}) | one process {best_local:.1f} s "
        f"({result['one_process_frames_per_s']:.0f} frames/s) | Ray, {cpus} CPUs {best_ray:.1f} s "
        f"({result['ray_frames_per_s']:.0f} frames/s) | ×{result['speedup']:.2f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
