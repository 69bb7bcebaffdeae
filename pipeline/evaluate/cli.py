"""`gait evaluate --model DIR --shards SHARDS`: the field's protocols, the GEI baseline, a report."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.config import add_config_arguments


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
    p.add_argument("--baseline", choices=("gei", "none"), default="gei", help="classical baseline beside the network")
    p.add_argument("--far", type=float, default=0.01, help="target false-accept rate of the SVM's open-set threshold")
    p.add_argument("--out", help="report directory (default: MODEL/evaluation)")
    p.add_argument("--actors", type=int, default=1, help="embedding actors when embedding the shards")
    p.add_argument("--gpus-per-actor", type=float, default=0.0, help="GPUs each embedding actor holds")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.evaluate.summary import summary_lines

    print("\n".join(summary_lines(execute(args))))
    return 0


def execute(args: argparse.Namespace) -> dict[str, Any]:
    """`gait evaluate` without the printing (its metrics): the main job runs this too."""
    from pipeline.evaluate.run import evaluate

    if not (args.model and args.shards):
        raise SystemExit("gait evaluate: give --model and --shards, or --config (they then come from its workdir)")
    if args.config and args.gallery and not _has_gallery(args.gallery):
        from pipeline.config import load_config

        if args.gallery == load_config(args.config, args.workdir).defaults("evaluate").get("gallery"):
            # the config's WORKDIR/gallery before any `gait index`: the shards' clips are embedded instead
            print(f"evaluate: no gallery at {args.gallery} yet; embedding the shards' clips", flush=True)
            args.gallery = None
    try:
        metrics = evaluate(
            args.model,
            args.shards,
            gallery=args.gallery,
            out=args.out,
            baseline=None if args.baseline == "none" else args.baseline,
            far=args.far,
            actors=args.actors,
            gpus=args.gpus_per_actor,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"gait evaluate: {exc}") from exc
    return metrics


def _has_gallery(uri: str) -> bool:
    from pipeline.common.storage import is_dir, resolve

    return is_dir(*resolve(uri))
