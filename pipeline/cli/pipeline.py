"""`gait pipeline --config FILE`: the main job (jobs/pipeline.py and `make demo` run this)."""

from __future__ import annotations

import argparse

from pipeline.cli.args import add_address_argument, add_config_arguments
from pipeline.workflow.run import STAGES, run_pipeline


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pipeline",
        help="run every stage of a config in order and print one summary (the main job)",
        description=(
            "Run synth → preprocess → train → index → evaluate → serve for a run config: each stage exactly as "
            "`gait <stage> --config FILE` runs it, reusing what an earlier run built with the same config "
            "(unless --overwrite), then print one summary: seconds per stage, rank-1 per condition for the "
            "network beside the GEI baseline, EER and the report's path (also in WORKDIR/summary.json). A config "
            "with a `source:` (a real dataset) has no synth stage."
        ),
    )
    add_config_arguments(p)
    p.add_argument("--overwrite", action="store_true", help="rebuild every stage instead of reusing outputs")
    p.add_argument(
        "--stages",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=list(STAGES),
        help=f"the stages to run, comma-separated (default: {','.join(STAGES)})",
    )
    add_address_argument(p)
    p.set_defaults(func=run, config="configs/demo.yaml")


def run(args: argparse.Namespace) -> int:
    try:
        result = run_pipeline(
            args.config, workdir=args.workdir, overwrite=args.overwrite, stages=args.stages, address=args.address
        )
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        raise SystemExit(f"gait pipeline: {exc}") from exc
    print()
    print("\n".join(result.summary()))
    return 0
