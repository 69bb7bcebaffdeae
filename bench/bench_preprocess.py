"""Benchmark: `gait preprocess` (Ray Data, every CPU) against a bare one-process OpenCV decode+resize loop over
the same files, in one run; then peak memory of the pipeline on the dataset and on one twice its size.

    .venv/bin/python bench/bench_preprocess.py           # 10,800 and 21,600 frames of 320x240
    .venv/bin/python bench/bench_preprocess.py --small   # a quick look

Two baselines: (1) the bare loop only decodes and resizes each frame (OpenCV's FFmpeg decodes on several
threads); the pipeline also finds the person, crops, aligns silhouettes, windows clips and writes Parquet.
(2) the same per-sequence code as the pipeline (SequenceProcessor) in one process, without Ray: what the
parallelism buys for the same work. Memory is the summed RSS of the driver and all Ray processes (an upper bound:
shared object-store pages count once per process that maps them).
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

import cv2
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.memory import PeakMemory
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.errors import Outcome
from pipeline.ingest.layouts import discover
from pipeline.ingest.manifest import manifest_to_table
from pipeline.ingest.preprocess import preprocess
from pipeline.ingest.schema import to_table
from pipeline.ingest.sequence import SequenceProcessor
from pipeline.synth import SynthConfig, generate_dataset

DATA = SynthConfig(
    subjects=10,
    sequences={"nm": 4, "bg": 2, "cl": 2},
    views=(36, 90, 144),
    frames=45,
    width=320,
    height=240,
    background_frames=0,
)


def bare_loop(videos: list[Path], size: tuple[int, int]) -> int:
    """The baseline: open each video, decode every frame, resize it. One process."""
    n = 0
    for v in videos:
        cap = cv2.VideoCapture(str(v))
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            n += 1
        cap.release()
    return n


def same_work_one_process(src: Path, cfg: PreprocessConfig, out: Path) -> int:
    """The pipeline's per-sequence work (decode → person → crop → clips → Parquet files), in one process."""
    records, _ = discover(str(src))
    processor = SequenceProcessor(cfg, cfg.hash(), with_joints=True)
    out.mkdir(parents=True, exist_ok=True)
    frames = 0
    for i, row in enumerate(manifest_to_table(records).to_pylist()):
        outcome = Outcome(row["sequence_id"], row["source"])
        tables = [to_table(clips) for clips in processor.clips({**row, "split": "train"}, outcome)]
        pq.write_table(pa.concat_tables(tables), out / f"{i:05d}.parquet", compression="zstd", use_dictionary=False)
        frames += outcome.frames
    return frames


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="3 subjects instead of 10")
    ap.add_argument("--repeats", type=int, default=2, help="alternate the two sides this many times; best kept")
    ap.add_argument("--out", default="bench/results/preprocess.json")
    args = ap.parse_args()
    data = DATA.with_changes(subjects=3) if args.small else DATA
    cfg = PreprocessConfig()
    work = Path(tempfile.mkdtemp(prefix="bench-pre-"))
    try:
        src, src2 = work / "data", work / "data2x"
        generate_dataset(data, src, progress=False)
        generate_dataset(data.with_changes(subjects=2 * data.subjects), src2, progress=False)
        videos = sorted((src / "videos").glob("*.mp4"))

        import ray

        from pipeline.common.ray_init import ensure_ray

        ensure_ray()
        cpus = int(ray.cluster_resources()["CPU"])
        preprocess(str(src), str(work / "warm"), cfg.with_changes(max_frames=cfg.clip_len))  # warm workers

        pipe_s, bare_s, same_s, frames = [], [], [], 0
        for i in range(args.repeats):
            t0 = time.perf_counter()
            frames = bare_loop(videos, (cfg.width, cfg.height))
            bare_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assert same_work_one_process(src, cfg, work / f"same{i}") == frames
            same_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            summary = preprocess(str(src), str(work / f"out{i}"), cfg)
            pipe_s.append(time.perf_counter() - t0)
            assert summary.frames == frames and summary.failed == 0

        memory = {}
        for name, root in (("1x", src), ("2x", src2)):
            with PeakMemory() as mem:
                s = preprocess(str(root), str(work / f"mem{name}"), cfg)
            memory[name] = {
                "frames": s.frames,
                "peak_rss_mb": round(mem.peak / 2**20),
                "before_mb": round(mem.baseline / 2**20),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    best_pipe, best_bare, best_same = min(pipe_s), min(bare_s), min(same_s)
    result = {
        "benchmark": "preprocess",
        "data": data.to_dict(),
        "preprocess_config": cfg.to_dict(),
        "frames": frames,
        "machine": f"{platform.machine()}, {cpus} Ray CPUs",
        "bare_loop_s": round(best_bare, 2),
        "pipeline_s": round(best_pipe, 2),
        "bare_loop_frames_per_s": round(frames / best_bare, 1),
        "pipeline_frames_per_s": round(frames / best_pipe, 1),
        "ratio": round(best_bare / best_pipe, 2),
        "same_work_one_process_s": round(best_same, 2),
        "same_work_one_process_frames_per_s": round(frames / best_same, 1),
        "ratio_vs_same_work": round(best_same / best_pipe, 2),
        "all_bare_s": [round(x, 2) for x in bare_s],
        "all_pipeline_s": [round(x, 2) for x in pipe_s],
        "all_same_work_s": [round(x, 2) for x in same_s],
        "memory": memory,
        "memory_ratio_2x_over_1x": round(memory["2x"]["peak_rss_mb"] / memory["1x"]["peak_rss_mb"], 2),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
