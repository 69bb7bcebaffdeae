"""`gait train SHARDS OUT`: flags → a TrainConfig and its paths → `pipeline.train.stage.run`."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli.args import add_address_argument, add_config_arguments, from_config, given, run_config
from pipeline.config import RunConfig
from pipeline.train.config import PRESETS, TrainPaths
from pipeline.train.run import TrainSummary
from pipeline.train.stage import run as run_stage

OPTIONS: dict[str, tuple[str, Any, str]] = {
    "--workers": (
        "workers",
        int,
        "Ray Train workers (one per GPU on a cluster); 0 trains in this process without Ray Train, for debugging",
    ),
    "--cpus-per-worker": ("cpus_per_worker", float, "CPUs each worker holds (fractions allowed)"),
    "--gpus-per-worker": ("gpus_per_worker", float, "GPUs each worker holds"),
    "--max-failures": ("max_failures", int, "worker-group restarts from the last checkpoint before giving up"),
    "--backbone": ("backbone", str, "HumanPoseNN backbone: compact (default, quick on CPU), vgg16, resnet50"),
    "--backbone-weights": ("backbone_weights", str, "a local weights file for the backbone (nothing is downloaded)"),
    "--first-stage": (
        "first_stage",
        str,
        "pose (HumanPoseNN on RGB frames; needs joints) or silhouette (silhouette encoder, for silhouette datasets)",
    ),
    "--rnn": ("rnn", str, "recurrent layer of GaitNN: lstm or gru"),
    "--rnn-layers": ("rnn_layers", int, "stacked recurrent layers: 1 or 2"),
    "--units": ("units", int, "recurrent units"),
    "--embedding": ("embedding", int, "size of the identification vector"),
    "--dropout": ("dropout", float, "dropout before the softmax of the training head"),
    "--triplet-weight": ("triplet_weight", float, "weight of a batch-hard triplet loss on the vector (0: none)"),
    "--gait-model": ("gait_model", str, "stage 2: gaitnn (the recurrent GaitNN) or set (GaitSet/GaitBase design)"),
    "--sampler": (
        "sampler",
        str,
        "stage 2's batches: shuffle (clips materialised, one global shuffle) or pk (shards streamed, P people × K "
        "sequences, random frames, triplet + softmax; silhouettes)",
    ),
    "--steps-per-epoch": ("steps_per_epoch", int, "with --sampler pk: steps an epoch (0: about one pass)"),
    "--threads-per-worker": ("threads_per_worker", int, "TensorFlow threads in each worker (0: its CPUs)"),
    "--seed": ("seed", int, "random seed"),
}
EPOCHS = {"--pose-epochs": "pose", "--gait-epochs": "gait", "--presence-epochs": "presence"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train HumanPoseNN, GaitNN and the presence classifier on Ray Train",
        description=(
            "Train the two-stage network on preprocessed shards with Ray Train (TensorflowTrainer, "
            "MultiWorkerMirroredStrategy): stage 1 HumanPoseNN on frames with joints, stage 2 GaitNN on clips "
            "with the pose network frozen (--finetune-pose to train it too), and the presence classifier. Each "
            "epoch is checkpointed; a worker that dies is replaced and training resumes from the last "
            "checkpoint, and re-running the same command resumes a stopped run. OUT gets the model directory "
            "(pose/, gait/, presence/, config.json, metrics.json, history.csv, curves.png, version)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("shards", nargs="?", help="output of gait preprocess (local path or URI)")
    p.add_argument("out", nargs="?", help="model directory to write (refused if it exists, unless --overwrite/--reuse)")
    add_config_arguments(p)  # with --config: WORKDIR/shards → WORKDIR/model, the options from its `train:`
    p.add_argument("--preset", choices=sorted(PRESETS), help="starting point for the options (default: demo)")
    for opt, (dest, typ, text) in OPTIONS.items():
        p.add_argument(opt, dest=dest, type=typ, help=text)
    for opt, stage in EPOCHS.items():
        p.add_argument(opt, dest=f"{stage}_epochs", type=int, help=f"epochs of the {stage} stage (at most)")
    p.add_argument("--finetune-pose", action="store_true", default=None, help="train HumanPoseNN in stage 2 too")
    p.add_argument(
        "--mixed-precision",
        action="store_true",
        default=None,
        help="float16 compute on GPUs, bfloat16 on CPUs with AMX/AVX512-BF16",
    )
    p.add_argument(
        "--storage-path",
        help="where Ray Train keeps checkpoints (default: beside OUT); shared "
        "storage (s3://, gs://, NFS) on a multi-node cluster",
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUT")
    p.add_argument("--reuse", action="store_true", help="keep OUT if it was trained on SHARDS with the same options")
    add_address_argument(p)
    p.set_defaults(func=run)


def changes_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags change (over the preset and the run config's section)."""
    changes: dict[str, Any] = given(args, [d for d, _, _ in OPTIONS.values()])
    for flag in ("finetune_pose", "mixed_precision"):
        if getattr(args, flag):
            changes[flag] = True
    for stage in EPOCHS.values():
        if getattr(args, f"{stage}_epochs") is not None:
            changes[stage] = {"epochs": getattr(args, f"{stage}_epochs")}
    return changes


def paths_from_args(args: argparse.Namespace, cfg: RunConfig) -> TrainPaths:
    default = cfg.train_paths()
    shards = from_config(args, args.shards, default.shards)
    out = from_config(args, args.out, default.out)
    if not (shards and out):
        raise SystemExit("gait train: give SHARDS and OUT, or --config (WORKDIR/shards → WORKDIR/model)")
    return TrainPaths(shards, out, storage_path=args.storage_path)


def run(args: argparse.Namespace) -> int:
    print("\n".join(execute(args).lines()))
    return 0


def execute(args: argparse.Namespace) -> TrainSummary:
    cfg = run_config("train", args, "train", changes_from_args(args))
    paths = paths_from_args(args, cfg)
    try:
        return run_stage(cfg.train, paths, address=args.address, overwrite=args.overwrite, reuse=args.reuse)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        raise SystemExit(f"gait train: {exc}") from exc
