"""Benchmark: `gait preprocess` on real footage (detect, track, crop, align, write) against bare decoding.

    .venv/bin/python bench/bench_footage.py [VIDEO] [--copies 4]

VIDEO defaults to OpenCV's pedestrian clip (Debian's opencv-doc: vtest.avi, 768×576, 795 frames). The archive is
`--copies` links to it (distinct names: distinct sources, one Ray task each). In one run, side by side:
(a) a one-process loop that decodes every frame of every copy with OpenCV (cv2.VideoCapture.read), nothing else;
(b) `preprocess()` of the archive at the default config (background subtraction, ByteTrack, silhouettes, quality
filter) on an embedded Ray with every CPU of the machine.
The issue's bar: (b) reaches ≥ 0.5× (a)'s frames/s per core, i.e. tracking costs at most half of bare decoding.
Results: bench/results/footage.json; the last line is the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.preprocess import preprocess

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
RESULTS = Path(__file__).resolve().parent / "results" / "footage.json"


def decode_loop(paths: list[Path]) -> tuple[int, float]:
    """(frames, seconds) of decoding every frame of every file in this process, one after the other."""
    cv2.setNumThreads(1)  # as each preprocessing task does: one CPU per task
    t0, n = time.perf_counter(), 0
    for p in paths:
        cap = cv2.VideoCapture(str(p))
        while cap.read()[0]:
            n += 1
        cap.release()
    return n, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", nargs="?", type=Path, default=VTEST)
    ap.add_argument("--copies", type=int, default=4)
    args = ap.parse_args()
    import ray

    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-footage-") as d:
        src = Path(d) / "archive"
        src.mkdir()
        paths = []
        for i in range(args.copies):
            paths.append(src / f"camera-{i:02d}{args.video.suffix}")
            os.symlink(args.video.resolve(), paths[-1])
        frames, decode_s = decode_loop(paths)
        print(f"(a) decode loop, one process: {frames} frames in {decode_s:.2f} s ({frames / decode_s:.0f} frames/s)")
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        try:
            cfg = PreprocessConfig()
            summary = preprocess(str(src), str(Path(d) / "warm"), cfg)  # Ray's workers start, modules load
            t0 = time.perf_counter()
            summary = preprocess(str(src), str(Path(d) / "out"), cfg)
            pre_s = time.perf_counter() - t0
        finally:
            ray.shutdown()
    pre_fps, dec_fps = summary.frames / pre_s, frames / decode_s
    per_core = pre_fps / (dec_fps * cpus)
    print(
        f"(b) gait preprocess, {cpus} CPUs: {summary.frames} frames in {pre_s:.2f} s ({pre_fps:.0f} frames/s); "
        f"{summary.written} written, person tracks {summary.tracks}"
    )
    result = {
        "command": f"python bench/bench_footage.py {args.video} --copies {args.copies}",
        "machine": {"python": platform.python_version(), "cpus": cpus},
        "decode": {"frames": frames, "seconds": round(decode_s, 2), "frames_per_s": round(dec_fps, 1)},
        "preprocess": {
            "frames": summary.frames,
            "seconds": round(pre_s, 2),
            "frames_per_s": round(pre_fps, 1),
            "tracks": summary.tracks,
        },
        "ratio": round(pre_fps / dec_fps, 3),
        "ratio_per_core": round(per_core, 3),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"footage: gait preprocess {pre_fps:.0f} frames/s on {cpus} CPUs vs a one-process decode loop "
        f"{dec_fps:.0f} frames/s: x{pre_fps / dec_fps:.2f}, x{per_core:.2f} per core (bar: x0.5 per core); "
        f"written to {RESULTS}"
    )


if __name__ == "__main__":
    main()
