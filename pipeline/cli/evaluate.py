"""`gait evaluate --model DIR --shards SHARDS`: flags → an EvaluateConfig and paths → `pipeline.evaluate.stage`."""

from __future__ import annotations

import argparse
from dataclasses import fields

from pipeline.cli.args import add_config_arguments, from_config, given, run_config
from pipeline.config import RunConfig
from pipeline.evaluate.config import BASELINES, EvaluateConfig, EvaluatePaths
from pipeline.evaluate.stage import EvaluationSummary, has_gallery
from pipeline.evaluate.stage import run as run_stage

OPTIONS = tuple(f.name for f in fields(EvaluateConfig))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="rank-1/CMC/mAP, ROC/EER/TAR@FAR, SVM accuracy under the dataset's protocol, with an HTML report",
        description=(
            "Evaluate a model on the test subjects of SHARDS (their gallery and probe splits, as `gait preprocess` "
            "assigned them: CASIA-B, CASIA-A or the synthetic protocol): rank-1 for every probe view against every "
            "other gallery view (identical views left out, averaged over views) per condition (NM/BG/CL) and per "
            "probe view, mAP over the same pairs, CMC rank 1-5, verification ROC, EER and TAR@FAR=1e-2/1e-3, and "
            "the linear SVM's accuracy (closed and open set), beside the classical GEI + PCA + LDA baseline. The "
            "shards are streamed (memory grows with sequences, not clips). Writes metrics.json, report.html and "
            "plots/*.png to --out (default MODEL/evaluation)."
        ),
    )
    p.add_argument("--model", help="model directory made by `gait train`")
    p.add_argument("--shards", help="shard directory made by `gait preprocess` (gives the splits)")
    add_config_arguments(p)  # with --config: WORKDIR/model, /shards and /gallery, options its `evaluate:`
    p.add_argument(
        "--gallery",
        help="vectors made by `gait index` over the same archive with this model (default: embed the shards' clips)",
    )
    p.add_argument("--baseline", choices=BASELINES, help="classical baseline beside the network (default: gei)")
    p.add_argument("--far", type=float, help="target false-accept rate of the SVM's open-set threshold (default: 0.01)")
    p.add_argument("--out", help="report directory (default: MODEL/evaluation)")
    p.add_argument("--actors", type=int, help="embedding actors when embedding the shards (default: 1)")
    p.add_argument("--gpus-per-actor", type=float, help="GPUs each embedding actor holds (default: 0)")
    p.set_defaults(func=run)


def resolve(args: argparse.Namespace) -> tuple[RunConfig, EvaluatePaths]:
    """The run config (evaluate settings layered: defaults, the file's `evaluate:` section, the flags), the paths."""
    cfg = run_config("evaluate", args, "evaluate", given(args, OPTIONS))
    default = cfg.evaluate_paths()
    model = from_config(args, args.model, default.model)
    shards = from_config(args, args.shards, default.shards)
    if not (model and shards):
        raise SystemExit("gait evaluate: give --model and --shards, or --config (they then come from its workdir)")
    gallery = from_config(args, args.gallery, default.gallery)
    if args.config and gallery == default.gallery and not has_gallery(gallery):
        # the config's WORKDIR/gallery before any `gait index`: the shards' clips are embedded instead
        print(f"evaluate: no gallery at {gallery} yet; embedding the shards' clips", flush=True)
        gallery = None
    return cfg, EvaluatePaths(model, shards, gallery, args.out)


def run(args: argparse.Namespace) -> int:
    print("\n".join(execute(args).lines()))
    return 0


def execute(args: argparse.Namespace) -> EvaluationSummary:
    cfg, paths = resolve(args)
    try:
        return run_stage(cfg.evaluate, paths)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"gait evaluate: {exc}") from exc
