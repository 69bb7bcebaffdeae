"""Benchmark: `gait index` (Ray Data: decoding tasks + an embedding actor pool) against a one-process loop that
runs the same model over the same files (decode → person → crop → clips → GaitNN → mean), in one run.

    make demo                                   # the model (runs/demo/model)
    .venv/bin/python bench/bench_index.py       # 240 videos of 45 frames at 320x240 (CASIA-B's frame size)
    .venv/bin/python bench/bench_index.py --small

Three sides, alternating: the loop clip by clip (the baseline), the loop with each distinct frame through the
pose network once (what `gait index` does: clips overlap), and `gait index`. The loop uses the very code the
pipeline uses (SequenceProcessor, the model's embedder) with OpenCV's and TensorFlow's own thread pools at
their defaults (all cores), which is what a user's script would do. The index side
also hashes every input and commits Parquet parts; Ray is started and its workers warmed before timing.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_preprocess import DATA  # the same archive: 240 videos of 45 frames at 320x240
from pipeline.common.model_dir import ModelInfo
from pipeline.identify.embed import load_embedder, mean_vector
from pipeline.identify.gallery import MEAN_ROW, read_gallery, vectors
from pipeline.identify.index import index_archive
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.errors import Outcome
from pipeline.ingest.layouts import discover
from pipeline.ingest.manifest import manifest_to_table
from pipeline.ingest.sequence import SequenceProcessor
from pipeline.models.embedding import embed_clips, embed_clips_shared
from pipeline.synth import generate_dataset


def one_process_loop(src: Path, model_dir: Path, embed: Any = embed_clips) -> dict[str, np.ndarray]:
    """The baseline: every sequence through the same preprocessing and model, one after another (`embed`:
    clip by clip, or with each distinct frame through the pose network once, as `gait index` does)."""
    info = ModelInfo(model_dir)
    cfg = PreprocessConfig.from_dict(info.preprocess | {"silhouettes": info.column == "silhouettes"})
    processor = SequenceProcessor(cfg, cfg.hash(), with_joints=False)
    embedder = load_embedder(model_dir)
    records, _ = discover(str(src))
    out = {}
    for row in manifest_to_table(records).to_pylist():
        batches = list(processor.clips(row, Outcome(row["sequence_id"], row["source"])))
        clips = np.concatenate([b[info.column] for b in batches])
        out[row["sequence_id"]] = mean_vector(embed(embedder, clips))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="runs/demo/model", help="model directory (make demo trains one)")
    ap.add_argument("--small", action="store_true", help="3 subjects instead of 10")
    ap.add_argument("--repeats", type=int, default=2, help="alternate the two sides this many times; best kept")
    ap.add_argument("--actors", type=int, default=1)
    ap.add_argument("--cpus-per-actor", type=float, default=1.0)
    ap.add_argument("--threads-per-actor", type=int, default=0)
    ap.add_argument("--out", default="bench/results/index.json")
    args = ap.parse_args()
    model = Path(args.model)
    ModelInfo(model)  # a clear error before any work if there is no model
    data = DATA.with_changes(subjects=3) if args.small else DATA
    work = Path(tempfile.mkdtemp(prefix="bench-index-"))
    try:
        src = work / "archive"
        generate_dataset(data, src, progress=False)
        import ray

        from pipeline.common.ray_init import ensure_ray

        ensure_ray()
        cpus = int(ray.cluster_resources()["CPU"])
        warm = work / "warm"
        generate_dataset(data.with_changes(subjects=1, sequences={"nm": 1}, views=(90,)), warm, progress=False)
        index_archive(str(warm), str(model), str(work / "warm-gallery"))

        loop_s, shared_s, index_s, n = [], [], [], 0
        for i in range(args.repeats):
            t0 = time.perf_counter()
            reference = one_process_loop(src, model)
            loop_s.append(time.perf_counter() - t0)
            n = len(reference)
            t0 = time.perf_counter()
            one_process_loop(src, model, embed_clips_shared)
            shared_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            summary = index_archive(
                str(src),
                str(model),
                str(work / f"gallery{i}"),
                actors=args.actors,
                cpus_per_actor=args.cpus_per_actor,
                threads_per_actor=args.threads_per_actor,
            )
            index_s.append(time.perf_counter() - t0)
            assert summary.indexed == n and summary.failed == 0, summary.lines()
            t = read_gallery(str(work / f"gallery{i}"))
            means = t.filter(t["clip_index"].to_numpy() == MEAN_ROW)
            mine = np.stack([reference[s] for s in means["sequence_id"].to_pylist()])
            np.testing.assert_allclose(vectors(means), mine, atol=1e-4)  # the same vectors as the loop's
    finally:
        shutil.rmtree(work, ignore_errors=True)

    best_loop, best_shared, best_index = min(loop_s), min(shared_s), min(index_s)
    result = {
        "benchmark": "index",
        "data": data.to_dict(),
        "model": str(model),
        "sequences": n,
        "machine": f"{platform.machine()}, {cpus} Ray CPUs",
        "actors": args.actors,
        "cpus_per_actor": args.cpus_per_actor,
        "threads_per_actor": args.threads_per_actor,
        "one_process_loop_s": round(best_loop, 2),
        "one_process_shared_frames_s": round(best_shared, 2),
        "index_s": round(best_index, 2),
        "one_process_sequences_per_s": round(n / best_loop, 2),
        "index_sequences_per_s": round(n / best_index, 2),
        "ratio": round(best_loop / best_index, 2),
        "ratio_to_shared_frames_loop": round(best_shared / best_index, 2),
        "all_loop_s": [round(x, 2) for x in loop_s],
        "all_shared_frames_s": [round(x, 2) for x in shared_s],
        "all_index_s": [round(x, 2) for x in index_s],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
