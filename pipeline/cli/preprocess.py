"""`gait preprocess SRC OUT`: flags → a PreprocessConfig and its paths → `pipeline.ingest.stage.run`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.cli.args import add_address_argument, add_config_arguments, from_config, given, parse_size, run_config
from pipeline.config import RunConfig
from pipeline.ingest.config import DETECTORS, PRESETS, PreprocessPaths
from pipeline.ingest.layouts import LAYOUTS
from pipeline.ingest.preprocess import PreprocessSummary
from pipeline.ingest.stage import run as run_stage

LAYOUT_CHOICES = tuple(name for name in LAYOUTS if name != "stream")  # a stream is told by its URL
PROTOCOL_CHOICES = ("auto", "casia-b", "casia-a", "synthetic", "subject")

# option → (config field, type, help)
OPTIONS: dict[str, tuple[str, Any, str]] = {
    "--clip-len": ("clip_len", int, "frames per clip (T); every clip has exactly T frames"),
    "--stride": (
        "stride",
        int,
        "frames between the starts of consecutive clips (S); a last clip ends at the last frame",
    ),
    "--min-frames": (
        "min_frames",
        int,
        "sequences with fewer frames showing a person are rejected; from here up to T "
        "they are padded by repeating the last frame",
    ),
    "--max-pixels": ("max_pixels", int, "frames with more pixels (width × height) are refused before decoding"),
    "--detector": (
        "detector",
        str,
        "how the person is found: auto (ground truth if the dataset has it, else "
        "background subtraction), truth, background (a bkgrd plate or the sequence's median), hog "
        "(OpenCV's built-in people detector), onnx (a learned detector of yours: --onnx-model)",
    ),
    "--onnx-model": (
        "onnx_model",
        str,
        "the YOLO-family ONNX export (YOLOv5/v7, v8/v11 or end-to-end) that finds people for --detector onnx, "
        "which giving it chooses; a local file, read as data by onnxruntime, never downloaded",
    ),
    "--margin": ("margin", float, "crop margin above and below the person, as a share of their height"),
    "--smooth": ("smooth", int, "frames in the moving average that smooths the person's box over time"),
    "--protocol": (
        "protocol",
        str,
        "split protocol: auto (by layout), casia-b (001-074 train, 075-124 test; "
        "gallery nm-01..04), casia-a, synthetic (CASIA-B's rules on a 60/40 subject split), subject "
        "(seeded subject-level split)",
    ),
    "--split-seed": ("split_seed", int, "seed of the subject-level split"),
    "--train-fraction": ("train_fraction", float, "share of subjects in training (synthetic and subject protocols)"),
    "--rows-per-file": ("rows_per_file", int, "clips per Parquet file, at most"),
    "--sequences-per-task": (
        "sequences_per_task",
        int,
        "sequences each Ray task decodes (0: about four tasks per CPU)",
    ),
    "--stream-seconds": ("stream_seconds", float, "how long a camera or network stream is read"),
    "--max-frames": ("max_frames", int, "read at most this many frames of each source (0: all)"),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preprocess",
        help="decode a video dataset into Parquet clip shards with Ray Data",
        description=(
            "Decode a gait dataset, an archive of unlabeled videos, or a camera/network stream into Parquet shards "
            "of fixed-length clips of the cropped person, with Ray Data. SRC is a directory (local, file://, s3:// "
            "or gs://), a video file, a camera index (0) or an rtsp:// or http(s):// stream. The layout is detected "
            "(see docs/data-layouts.md). OUT gets shards/*.parquet, errors.parquet (one row per input that failed), "
            "manifest.parquet (every sequence, its split and outcome) and _manifest.json (written last). Every "
            "discovered input ends either in the shards or in errors.parquet."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="presets: "
        + "; ".join(f"{k}: {v.width}x{v.height}, T={v.clip_len}, S={v.stride}" for k, v in PRESETS.items()),
    )
    p.add_argument("src", nargs="?", help="dataset directory or URI, video file, camera index or stream URL")
    p.add_argument("out", nargs="?", help="output directory or URI (refused if it exists, unless --overwrite/--reuse)")
    add_config_arguments(p)  # with --config: SRC is its source, OUT WORKDIR/shards, options its `preprocess:`
    p.add_argument("--preset", choices=sorted(PRESETS), help="starting point for the options (default: demo)")
    p.add_argument("--layout", choices=LAYOUT_CHOICES, help="force a dataset layout instead of detecting it")
    p.add_argument("--size", type=parse_size, help="crop size WIDTHxHEIGHT after resizing (demo: 64x64)")
    for opt, (dest, typ, text) in OPTIONS.items():
        kwargs: dict[str, Any] = {"dest": dest, "type": typ, "help": text}
        if opt == "--detector":
            kwargs["choices"] = DETECTORS
        if opt == "--protocol":
            kwargs["choices"] = PROTOCOL_CHOICES
        p.add_argument(opt, **kwargs)
    p.add_argument("--no-silhouettes", action="store_true", help="do not add the aligned silhouettes column")
    p.add_argument(
        "--no-track-appearance",
        action="store_true",
        help="keep the tracker's own ids where people cross, instead of setting them right by clothing colour "
        "(for people dressed alike, e.g. in uniform)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace OUT; it is swapped only once the new one is complete"
    )
    p.add_argument("--reuse", action="store_true", help="keep OUT if it was made from SRC with the same options")
    add_address_argument(p)
    p.set_defaults(func=run)


def changes_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags change (over the preset and the run config's section)."""
    changes = given(args, [dest for dest, _, _ in OPTIONS.values()])
    if changes.get("onnx_model"):
        if "://" not in changes["onnx_model"]:  # the Ray workers' folder may be another: the file by its whole path
            model = Path(changes["onnx_model"]).expanduser().resolve()
            if not model.is_file():  # said once here, not as an error row for every input
                raise SystemExit(f"gait preprocess: --onnx-model {changes['onnx_model']}: no such file")
            changes["onnx_model"] = str(model)
        changes.setdefault("detector", "onnx")
    if args.size:
        changes["width"], changes["height"] = args.size
    if args.no_silhouettes:
        changes["silhouettes"] = False
    if args.no_track_appearance:
        changes["track_appearance"] = False
    return changes


def paths_from_args(args: argparse.Namespace, cfg: RunConfig) -> PreprocessPaths:
    default = cfg.preprocess_paths()
    src = from_config(args, args.src, default.src)
    out = from_config(args, args.out, default.out)
    if not (src and out):
        raise SystemExit("gait preprocess: give SRC and OUT, or --config (its source → WORKDIR/shards)")
    return PreprocessPaths(src, out, layout=args.layout)


def run(args: argparse.Namespace) -> int:
    print("\n".join(execute(args).lines()))
    return 0


def execute(args: argparse.Namespace) -> PreprocessSummary:
    cfg = run_config("preprocess", args, "preprocess", changes_from_args(args))
    paths = paths_from_args(args, cfg)
    try:
        return run_stage(cfg.preprocess, paths, address=args.address, overwrite=args.overwrite, reuse=args.reuse)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        raise SystemExit(f"gait preprocess: {exc}") from exc
