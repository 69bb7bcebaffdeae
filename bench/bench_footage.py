"""Benchmark: `gait preprocess` on real footage (detect, track, crop, align, write) against bare decoding.

    .venv/bin/python bench/bench_footage.py [VIDEO] [--copies 4]

VIDEO defaults to OpenCV's pedestrian clip (Debian's opencv-doc: vtest.avi, 768×576, 795 frames). The archive is
`--copies` links to it (distinct names: distinct sources, one Ray task each). In one run, side by side:
(a) a one-process loop that decodes every frame of every copy with OpenCV (cv2.VideoCapture.read), nothing else;
(b) `preprocess()` of the archive at the default config (background subtraction, ByteTrack, silhouettes, quality
filter) on an embedded Ray with every CPU of the machine.
The issue's bar: (b) reaches ≥ 0.5× (a)'s frames/s per core, i.e. tracking costs at most half of bare decoding.
(c) where one core's time goes: the same path (`SequenceProcessor.clips`) over one copy in this process, each
stage's wall time summed by a timer wrapped around it (decoding, camera motion, background subtraction and
blobs, ByteTrack, crops and silhouettes, clip assembly; the rest is the stages' glue).
(d) what the ground plane (pipeline/track/ground_plane.py) costs: the background detector alone over the video's
decoded frames with and without it, three alternating runs each, best of three.
Results: bench/results/footage.json; the last line is the summary.
"""

from __future__ import annotations

import argparse
import inspect
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


# (label, module, owner class or None, attribute): each wrapped by a timer; a stage's time leaves out those nested in it
STAGES = (
    ("decode (OpenCV)", "pipeline.ingest.decode", None, "_read"),
    ("background model priming (first frames)", "pipeline.track.foreground", "ForegroundDetector", "prime"),
    ("camera motion (LK + homography)", "pipeline.track.camera_motion", "CameraMotion", "update"),
    ("background subtraction + blobs", "pipeline.track.foreground", "ForegroundDetector", "detect"),
    ("ByteTrack (supervision)", "pipeline.track.tracker", "PersonTracker", "update"),
    ("identities by clothing colour (IdentityKeeper)", "pipeline.track.identities", "IdentityKeeper", "update"),
    ("crops + silhouettes per track", "pipeline.ingest.tracks", "TrackCutter", "_add"),
    ("clip assembly", "pipeline.ingest.sequence", "SequenceProcessor", "_batch"),
)


def _timed_items(gen, spent: dict[str, float], label: str):
    """A generator's items, the time spent making each counted to `label`."""
    while True:
        t = time.perf_counter()
        try:
            item = next(gen)
        except StopIteration:
            spent[label] += time.perf_counter() - t
            return
        spent[label] += time.perf_counter() - t
        yield item


def breakdown(video: Path) -> dict[str, float]:
    """Seconds per stage of one source through `SequenceProcessor.clips` in this process (see the docstring)."""
    import importlib

    import supervision  # noqa: F401  (imported before timing, as Ray's warm workers have it)

    from pipeline.ingest.errors import Outcome
    from pipeline.ingest.sequence import SequenceProcessor

    cv2.setNumThreads(1)
    spent: dict[str, float] = dict.fromkeys([s[0] for s in STAGES], 0.0)
    stack: list[str] = []
    restore = []
    for label, module, owner, attr in STAGES:
        mod = importlib.import_module(module)
        target = getattr(mod, owner) if owner else mod
        inner = getattr(target, attr)

        def timed(*a, _f=inner, _label=label, **kw):
            stack.append(_label)
            t = time.perf_counter()
            try:
                out = _f(*a, **kw)
            finally:
                took = time.perf_counter() - t
                stack.pop()
                spent[_label] += took
                if stack:  # a stage inside another (camera motion inside detect): counted once, as itself
                    spent[stack[-1]] -= took
            return _timed_items(out, spent, _label) if inspect.isgenerator(out) else out

        setattr(target, attr, timed)
        restore.append((target, attr, inner))
    rec = {"kind": "video", "source": str(video), "sequence_id": "bench", "layout": "video"}
    proc = SequenceProcessor(PreprocessConfig(), "bench", with_joints=False, threads=1)
    outcome = Outcome("bench", str(video))
    try:
        t0 = time.perf_counter()
        for _ in proc.clips(rec, outcome):
            pass
        total = time.perf_counter() - t0
    finally:
        for target, attr, inner in restore:
            setattr(target, attr, inner)
    spent["rest (the stages' glue)"] = total - sum(spent.values())
    return {"frames": outcome.frames, "seconds": round(total, 2)} | {k: round(v, 3) for k, v in spent.items()}


def ground_plane_cost(video: Path, repeats: int = 3) -> dict[str, float]:
    """ms a frame of ForegroundDetector.detect over every frame, without and with the ground plane (best of
    `repeats`, alternating so that both see the same load). Frames are decoded as they are needed, outside the
    timer: only the first 50 (the priming) are held."""
    from pipeline.track.foreground import ForegroundDetector

    def detect_ms(ground_plane: bool) -> float:
        cap = cv2.VideoCapture(str(video))
        detector = ForegroundDetector(ground_plane=ground_plane, fps=cap.get(cv2.CAP_PROP_FPS) or 25.0)
        first = []
        while len(first) < 50 and (frame := cap.read()[1]) is not None:
            first.append(frame)
        detector.prime(first)

        def frames():  # the priming frames again, then the rest as they are decoded
            yield from first
            while (frame := cap.read()[1]) is not None:
                yield frame

        spent, count = 0.0, 0
        for frame in frames():
            t0 = time.perf_counter()
            detector.detect(frame)
            spent += time.perf_counter() - t0
            count += 1
        cap.release()
        return 1000 * spent / count

    best = {"without": float("inf"), "with": float("inf")}
    for _ in range(repeats):
        for label, on in (("without", False), ("with", True)):
            best[label] = min(best[label], detect_ms(on))
    return {"without_ms": round(best["without"], 3), "with_ms": round(best["with"], 3)}


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
    parts = breakdown(args.video)
    print(f"(c) one core, {parts['frames']} frames in {parts['seconds']} s:")
    for label, sec in parts.items():
        if label not in ("frames", "seconds"):
            print(f"    {label:34s} {sec:6.2f} s  {1000 * sec / parts['frames']:5.2f} ms/frame")
    plane = ground_plane_cost(args.video)
    print(
        f"(d) the background detector alone: {plane['with_ms']:.2f} ms a frame with the ground plane, "
        f"{plane['without_ms']:.2f} without (x{plane['with_ms'] / plane['without_ms']:.2f})"
    )
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
        "one_core_breakdown_seconds": parts,
        "detector_ms_per_frame_ground_plane": plane,
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
