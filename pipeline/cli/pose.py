"""`gait pose IMAGE_OR_VIDEO --model DIR`: the joints of the person in an image or a video, printed and drawn."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pipeline.common.atomic import atomic_write_bytes, temp_sibling
from pipeline.common.skeleton import JOINT_NAMES
from pipeline.ingest.decode import video_frames
from pipeline.ingest.errors import IngestError
from pipeline.pose.draw import draw_skeleton
from pipeline.pose.estimate import DETECTORS, MIN_BACKGROUND_FRAMES, PoseEstimator, PoseResult

FRAME_BYTES = 192 << 20  # decoded video frames held at once (as preprocessing's chunks)
MAX_PIXELS = 3840 * 2160


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pose",
        help="estimate the 16 MPII joints of the person in an image or video and draw the skeleton",
        description=(
            "Run the pose network (HumanPoseNN, stage 1) of a trained model directory on an image or a video. The "
            "person is found and cropped the way `gait preprocess` does it (background subtraction on videos, "
            "OpenCV's HOG people detector on single images or when that finds nobody), the crop goes through the "
            "network and the joints are mapped back to frame pixels. Prints one line per frame: the frame index, "
            "then name=(x, y, confidence) for each joint (JSON lines with --json); writes the input with the "
            "skeleton drawn on it (left limbs blue, right orange, the centre line green, the person's box grey)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "input",
        metavar="IMAGE_OR_VIDEO",
        help="an image (anything OpenCV reads: PNG, JPEG, …) or a video file (anything OpenCV's FFmpeg decodes)",
    )
    p.add_argument(
        "--model",
        required=True,
        metavar="DIR",
        help="model directory written by `gait train` (reads pose/model.keras and config.json)",
    )
    p.add_argument(
        "--out",
        metavar="PATH",
        help="where to write the drawing: a PNG for an image, an mp4 (mp4v) for a video "
        "(default: beside the input, <stem>.pose.png or <stem>.pose.mp4)",
    )
    p.add_argument(
        "--detector",
        choices=DETECTORS,
        default="auto",
        help="how the person is found: auto (background subtraction on videos of 8 frames or more; OpenCV's HOG "
        "people detector on single images or when background subtraction finds nobody), background, hog, or none "
        "(the whole frame, padded to the network's aspect). Where nobody is found, the whole frame is used",
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        default=0.1,
        metavar="X",
        help="joints whose heatmap peak is below X are not drawn (they are still printed); default 0.1",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per frame instead of text lines")
    p.add_argument(
        "--max-frames", type=int, default=0, metavar="N", help="read at most N frames of a video (0: all, the default)"
    )
    p.set_defaults(func=run)


def default_out(src: Path, video: bool) -> Path:
    return src.with_name(f"{src.stem}.pose.{'mp4' if video else 'png'}")


def format_text(index: int, result: PoseResult) -> str:
    parts = [f"{n}=({x:.1f}, {y:.1f}, {c:.2f})" for n, (x, y, c) in zip(JOINT_NAMES, result.joints, strict=True)]
    return f"{index} " + " ".join(parts)


def format_json(index: int, result: PoseResult) -> str:
    return json.dumps(
        {
            "frame": index,
            "box": None if result.box is None else [round(float(v), 2) for v in result.box],
            "joints": {
                n: [round(float(x), 2), round(float(y), 2), round(float(c), 4)]
                for n, (x, y, c) in zip(JOINT_NAMES, result.joints, strict=True)
            },
        }
    )


def _video_chunks(path: Path, max_frames: int) -> Iterator[list[np.ndarray]]:
    """Consecutive chunks of a video's frames, so memory stays bounded on long videos."""

    chunk: list[np.ndarray] = []
    limit = 0
    for frame in video_frames(str(path), MAX_PIXELS, max_frames):
        if not chunk:
            limit = max(4 * MIN_BACKGROUND_FRAMES, FRAME_BYTES // max(1, frame.nbytes))
        chunk.append(frame)
        if len(chunk) >= limit:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _fps(path: Path) -> float:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    return fps if fps and np.isfinite(fps) and 0 < fps <= 1000 else 25.0


def _emit(index: int, result: PoseResult, as_json: bool) -> None:
    print(format_json(index, result) if as_json else format_text(index, result))


def _run_image(args: argparse.Namespace, src: Path, out: Path, estimator: PoseEstimator) -> tuple[int, int]:
    import cv2

    frame = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if frame is None:
        raise SystemExit(f"gait pose: OpenCV cannot decode the image {src}")
    (result,) = estimator.estimate([frame])
    _emit(0, result, args.json)
    ok, png = cv2.imencode(".png", draw_skeleton(frame, result.joints, args.min_confidence, result.box))
    if not ok:
        raise SystemExit(f"gait pose: could not encode the drawing as PNG for {out}")
    atomic_write_bytes(out, png.tobytes())
    return 1, int(result.box is not None)


def _run_video(args: argparse.Namespace, src: Path, out: Path, estimator: PoseEstimator) -> tuple[int, int]:
    import cv2

    out.parent.mkdir(parents=True, exist_ok=True)
    n = found = 0
    with temp_sibling(out, "tmp.mp4") as tmp:
        writer = None
        try:
            for chunk in _video_chunks(src, args.max_frames):
                if writer is None:
                    h, w = chunk[0].shape[:2]
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), _fps(src), (w, h))
                    if not writer.isOpened():
                        raise SystemExit(f"gait pose: OpenCV cannot write an mp4 video to {out}")
                for frame, result in zip(chunk, estimator.estimate(chunk), strict=True):
                    _emit(n, result, args.json)
                    writer.write(draw_skeleton(frame, result.joints, args.min_confidence, result.box))
                    n += 1
                    found += result.box is not None
        except IngestError as exc:
            raise SystemExit(f"gait pose: {src}: {exc.message}") from exc
        finally:
            if writer is not None:
                writer.release()
        os.replace(tmp, out)
    return n, found


def run(args: argparse.Namespace) -> int:
    import cv2

    src = Path(args.input)
    if not src.exists():
        raise SystemExit(f"gait pose: {src} does not exist")
    if not src.is_file() or not os.access(src, os.R_OK):
        raise SystemExit(f"gait pose: {src} is not a readable file")
    if args.min_confidence < 0 or args.max_frames < 0:
        raise SystemExit("gait pose: --min-confidence and --max-frames cannot be negative")
    video = not cv2.haveImageReader(str(src))
    out = Path(args.out) if args.out else default_out(src, video)
    try:
        estimator = PoseEstimator(args.model, args.detector)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"gait pose: {exc}") from exc
    try:
        n, found = (_run_video if video else _run_image)(args, src, out, estimator)
    except ValueError as exc:
        raise SystemExit(f"gait pose: {exc}") from exc
    sys.stdout.flush()
    if args.detector == "none":
        where = f"{n} frame(s), whole frame (--detector none)"
    elif found:
        where = f"person found in {found} of {n} frame(s)"
    else:
        where = f"no person found in {n} frame(s): pose of the whole frame"
    print(f"gait pose: {where}; wrote {out}", file=sys.stderr)
    return 0
