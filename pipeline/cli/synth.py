"""`gait synth OUT`: flags → a SynthConfig (or a CrowdConfig for multi-walker scenes) → `pipeline.synth.stage.run`."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from pipeline.cli.args import add_address_argument, add_config_arguments, parse_size, run_config
from pipeline.config import RunConfig
from pipeline.synth.config import CONDITIONS, LAYOUTS, OUTPUTS, PRESETS, SynthConfig, SynthPaths
from pipeline.synth.crowd import CAMERAS as CROWD_CAMERAS
from pipeline.synth.crowd import LIGHTING as CROWD_LIGHTING
from pipeline.synth.crowd_dataset import CrowdConfig, CrowdSummary
from pipeline.synth.generate import GenerationSummary
from pipeline.synth.stage import run as run_stage

# Options of single-walker datasets that mean nothing for multi-walker scenes.
SINGLE_WALKER_ONLY = (
    "preset",
    "conditions",
    "sequences",
    "views",
    "layout",
    "output",
    "silhouette_png",
    "background_frames",
    "config",
)


def parse_views(text: str) -> tuple[int, ...]:
    """'0,45,90' or a range 'START:STOP:STEP' with STOP included ('0:180:18' gives CASIA-B's 11 views)."""
    try:
        if ":" in text:
            start, stop, step = (int(x) for x in text.split(":"))
            return tuple(range(start, stop + 1, step))
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"views must look like 0,45,90 or 0:180:18, not {text!r}") from exc


def parse_sequences(text: str) -> int | dict[str, int]:
    """'4' (each condition) or 'nm=6,bg=2,cl=2' (per condition)."""
    try:
        if "=" not in text:
            return int(text)
        return {k.strip(): int(v) for k, v in (part.split("=") for part in text.split(",") if part.strip())}
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"sequences must look like 4 or nm=6,bg=2,cl=2, not {text!r}") from exc


def parse_walkers(text: str) -> tuple[int, int]:
    """'4' (every scene) or '2-6' (each scene draws its number in the range)."""
    try:
        lo, _, hi = text.partition("-")
        return int(lo), int(hi or lo)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"walkers must look like 4 or 2-6, not {text!r}") from exc


def parse_cameras(text: str) -> tuple[str, ...]:
    cams = tuple(c.strip() for c in text.split(",") if c.strip())
    if not cams or any(c not in CROWD_CAMERAS for c in cams):
        raise argparse.ArgumentTypeError(f"camera must look like still or still,pan,shake, not {text!r}")
    return cams


def presets_table() -> str:
    rows = ["presets:"]
    for name, c in PRESETS.items():
        seqs = ",".join(f"{k}={v}" for k, v in c.sequences.items())
        views = ",".join(str(v) for v in c.views)
        rows.append(
            f"  {name:8s} subjects={c.subjects} sequences={seqs} views={views} frames={c.frames} "
            f"size={c.width}x{c.height} fps={c.fps:g} layout={c.layout} output={c.output} "
            f"background-frames={c.background_frames} jitter={c.jitter} seed={c.seed}"
        )
    return "\n".join(rows)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="generate a synthetic gait-video dataset with ground truth",
        description=(
            "Generate synthetic gait videos of walking people, with per-frame ground truth (2-D joints of the "
            "16 MPII joints, person boxes, silhouette masks) and per-sequence metadata (subject, condition, "
            "sequence, view, gait parameters), in the CASIA-B file layout (or CASIA-A's). Sequences are "
            "rendered in parallel as Ray tasks on an embedded local Ray, or on the cluster at $RAY_ADDRESS. "
            "Options override the preset; the presets are listed below."
        ),
        epilog=presets_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", nargs="?", help="output directory (created; replaced only with --overwrite)")
    add_config_arguments(p)  # with --config: OUT defaults to WORKDIR/synth, the options to its `synth:` section
    p.add_argument("--preset", choices=sorted(PRESETS), help="starting point for every option (default: demo)")
    p.add_argument("--subjects", type=int, help="number of people (subjects 001..N)")
    p.add_argument(
        "--conditions",
        type=lambda s: [c.strip() for c in s.split(",") if c.strip()],
        help="walking conditions, comma-separated: " + "; ".join(f"{k} = {v}" for k, v in CONDITIONS.items()),
    )
    p.add_argument(
        "--sequences",
        type=parse_sequences,
        help="sequences per condition and view: one number for every condition, or nm=6,bg=2,cl=2",
    )
    p.add_argument(
        "--views",
        type=parse_views,
        help="camera angles in degrees to the walking direction "
        "(0 = walking toward the camera, 90 = side view, 180 = walking away): 0,45,90 or 0:180:18",
    )
    p.add_argument("--frames", type=int, help="frames per sequence")
    p.add_argument("--size", type=parse_size, help="frame size WIDTHxHEIGHT in pixels, e.g. 128x128")
    p.add_argument("--fps", type=float, help="frames per second of the videos (and of the walk's timing)")
    p.add_argument("--seed", type=int, help="random seed: the same seed and options give identical files")
    p.add_argument("--layout", choices=LAYOUTS, help="file tree: casia-b (videos or frame folders) or casia-a")
    p.add_argument("--output", choices=OUTPUTS, help="mp4 videos, PNG frame folders, or both")
    p.add_argument(
        "--silhouette-png",
        action="store_true",
        default=None,
        help="also write silhouettes as PNG folders in CASIA-B's silhouette layout",
    )
    p.add_argument(
        "--background-frames",
        type=int,
        help="frames of each background-only plate (<subject>-bkgrd-<view>); 0 for none",
    )
    p.add_argument(
        "--jitter", type=float, help="how much two walks of one person differ, in population standard deviations"
    )
    crowd = p.add_argument_group(
        "multi-walker scenes",
        "--walkers switches to scenes of several people crossing, entering and leaving, for scoring trackers: "
        "videos OUT/<camera>-<nn>.mp4 with per-walker boxes and visibility (docs/synthetic-data.md). "
        "--frames, --size, --fps, --seed, --subjects and --jitter apply (defaults 300 frames, 320x240, 25 fps, "
        "50 subjects); the single-walker options above do not.",
    )
    crowd.add_argument(
        "--walkers", type=parse_walkers, help="people per scene: a number, or a range such as 2-6 drawn per scene"
    )
    crowd.add_argument(
        "--camera",
        type=parse_cameras,
        help="still (a tripod), pan (the view slides across a wider room and back, a few px per frame) or "
        "shake (hand-held jitter of several px); a comma list makes --scenes scenes of each (default still)",
    )
    crowd.add_argument(
        "--lighting",
        choices=CROWD_LIGHTING,
        help="steady, or changing: a slow gain drift and a sudden step, as when a light is switched (default steady)",
    )
    crowd.add_argument("--scenes", type=int, help="scenes per camera mode (default 3)")
    p.add_argument("--no-ray", action="store_true", help="render in this process, one sequence after another")
    add_address_argument(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset made with another config")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace, run: RunConfig | None = None) -> SynthConfig:
    """The preset, the run config's `synth:` section, then the flags (`gait synth --help` lists them)."""
    base = (run or run_config("synth", args, "synth", {})).synth
    changes: dict[str, Any] = {}
    for f in fields(SynthConfig):
        value = getattr(args, f.name, None)
        if value is not None and f.name not in ("sequences",):
            changes[f.name] = value
    if args.size is not None:
        changes["width"], changes["height"] = args.size
    conditions = args.conditions or list(base.sequences)
    if isinstance(args.sequences, dict):
        if args.conditions and set(args.conditions) != set(args.sequences):
            raise SystemExit("--conditions and --sequences name different conditions")
        changes["sequences"] = args.sequences
    else:
        n = args.sequences
        changes["sequences"] = {c: n if n is not None else base.sequences.get(c, 2) for c in conditions}
    try:
        return base.with_changes(**changes)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc


def crowd_config_from_args(args: argparse.Namespace) -> CrowdConfig:
    """The multi-walker config of `gait synth OUT --walkers N ...`."""
    given = [f"--{name.replace('_', '-')}" for name in SINGLE_WALKER_ONLY if getattr(args, name, None) is not None]
    if given:
        raise SystemExit(f"gait synth: {', '.join(given)} do not apply to multi-walker scenes (--walkers)")
    changes: dict[str, Any] = {"walkers": args.walkers}
    for name, key in (("camera", "cameras"), ("lighting", "lighting"), ("scenes", "scenes")):
        if getattr(args, name, None) is not None:
            changes[key] = getattr(args, name)
    for name in ("frames", "fps", "seed", "subjects", "jitter"):
        if getattr(args, name, None) is not None:
            changes[name] = getattr(args, name)
    if args.size is not None:
        changes["width"], changes["height"] = args.size
    try:
        return CrowdConfig().with_changes(**changes)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    print("\n".join(execute(args).lines()))
    return 0


def execute(args: argparse.Namespace) -> GenerationSummary | CrowdSummary:
    """The flags' config through the stage's `run`; what it made (the summary), or a clear exit."""
    crowd = getattr(args, "walkers", None) is not None
    if not crowd:
        crowd_only = [f"--{n}" for n in ("camera", "lighting", "scenes") if getattr(args, n, None) is not None]
        if crowd_only:
            raise SystemExit(f"gait synth: {', '.join(crowd_only)} only apply to multi-walker scenes: add --walkers N")
    run = run_config("synth", args, "synth", {})
    cfg = crowd_config_from_args(args) if crowd else config_from_args(args, run)
    out = args.out or (run.synth_paths().out if args.config else None)
    if not out:
        raise SystemExit("gait synth: give OUT, or --config (OUT is then WORKDIR/synth)")
    try:
        return run_stage(
            cfg,
            SynthPaths(out),
            address=args.address,
            overwrite=args.overwrite,
            parallel=not args.no_ray,
            progress=not args.quiet,
        )
    except FileExistsError as exc:
        raise SystemExit(f"gait synth: {exc}") from exc
