"""`gait index` (flags → an IndexConfig and its paths → `pipeline.identify.stage.run`) and `gait svm` (gallery → linear
SVM with an open-set threshold)."""

from __future__ import annotations

import argparse
from dataclasses import fields

from pipeline.cli.args import add_address_argument, add_config_arguments, from_config, given, run_config
from pipeline.cli.preprocess import LAYOUT_CHOICES
from pipeline.config import RunConfig
from pipeline.identify.config import IndexConfig, IndexPaths
from pipeline.identify.gallery import read_gallery, vectors
from pipeline.identify.index import IndexSummary
from pipeline.identify.stage import run as run_stage
from pipeline.identify.svm import fit_svm

OPTIONS = tuple(f.name for f in fields(IndexConfig))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="bulk-index a video archive into a gallery of identification vectors (Ray Data)",
        description=(
            "Turn every sequence of ARCHIVE (any layout `gait preprocess` knows, unlabeled folders included) into "
            "identification vectors with the model in --model: the same decoding and cropping as preprocessing, then "
            "GaitNN in a pool of Ray actors. GALLERY gets parts/<model version>/part-*.parquet (a row per clip and a "
            "row per sequence mean, clip_index -1), errors.parquet (inputs that failed) and _gallery.json. A re-run, "
            "or a run after a crash, skips the sequences already indexed for this model version (same source and "
            "content hash): it never writes a row twice."
        ),
    )
    p.add_argument("archive", nargs="?", help="directory or URI of videos / frame folders")
    p.add_argument("--model", help="model directory made by `gait train`")
    p.add_argument("--out", help="gallery directory or URI (created, or resumed)")
    add_config_arguments(p)  # with --config: its source, WORKDIR/model → WORKDIR/gallery, options its `index:`
    p.add_argument("--layout", choices=LAYOUT_CHOICES, help="force a dataset layout instead of detecting it")
    p.add_argument("--actors", type=int, help="embedding actors (at most; one per GPU on a GPU cluster)")
    p.add_argument("--cpus-per-actor", type=float, help="CPUs each embedding actor holds")
    p.add_argument("--gpus-per-actor", type=float, help="GPUs each embedding actor holds (0: CPU)")
    p.add_argument(
        "--threads-per-actor",
        type=int,
        help="TensorFlow threads of each embedding actor (0: TensorFlow's default, every core of the node)",
    )
    p.add_argument("--batch-size", type=int, help="clips per embedding batch")
    p.add_argument(
        "--sequences-per-task",
        type=int,
        help="sequences each decoding task takes (0: about 4 tasks per CPU)",
    )
    p.add_argument("--commit-every", type=int, help="sequences per committed Parquet part")
    add_address_argument(p)
    p.set_defaults(func=run_index)

    s = sub.add_parser(
        "svm",
        help="fit the linear SVM over a gallery's vectors (npz + JSON, no pickle)",
        description=(
            "Fit scikit-learn's linear SVM with sigmoid-calibrated probabilities on the clip vectors of GALLERY's "
            "labelled sequences (one class per subject), choose the open-set threshold for --far on --impostors "
            "(a gallery of people not enrolled) or, without it, on enrolled classes held out in folds, and save "
            "OUT/svm.npz + OUT/svm.json."
        ),
    )
    s.add_argument("gallery", help="gallery made by `gait index`")
    s.add_argument("--out", required=True, help="directory for svm.npz and svm.json")
    s.add_argument("--impostors", help="a gallery of people who are not enrolled, to choose the threshold on")
    s.add_argument("--far", type=float, default=0.01, help="target false-accept rate of the open-set threshold")
    s.add_argument("--c", type=float, default=1.0, help="the SVM's regularisation parameter C")
    s.set_defaults(func=run_svm)


def run_index(args: argparse.Namespace) -> int:
    print("\n".join(execute_index(args).lines()))
    return 0


def resolve_index(args: argparse.Namespace) -> tuple[RunConfig, IndexPaths]:
    """The run config (index settings layered: defaults, the file's `index:` section, the flags) and the paths."""
    cfg = run_config("index", args, "index", given(args, OPTIONS))
    default = cfg.index_paths()
    paths = IndexPaths(
        from_config(args, args.archive, default.archive),
        from_config(args, args.model, default.model),
        from_config(args, args.out, default.out),
    )
    if not (paths.archive and paths.model and paths.out):
        raise SystemExit("gait index: give ARCHIVE, --model and --out, or --config (they then come from its workdir)")
    return cfg, paths


def execute_index(args: argparse.Namespace) -> IndexSummary:
    cfg, paths = resolve_index(args)
    try:
        return run_stage(cfg.index, paths, address=args.address)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"gait index: {exc}") from exc


def run_svm(args: argparse.Namespace) -> int:
    try:
        table = read_gallery(args.gallery)
        clips = table.filter(table["clip_index"].to_numpy() >= 0)
        labelled = clips.filter(clips["subject"].is_valid())
        if not len(labelled):
            raise ValueError(f"{args.gallery} has no labelled vectors to enrol")
        impostors = None
        if args.impostors:
            imp = read_gallery(args.impostors)
            impostors = vectors(imp.filter(imp["clip_index"].to_numpy() >= 0))
        model = fit_svm(
            vectors(labelled),
            labelled["subject"].to_numpy(zero_copy_only=False),
            impostors=impostors,
            target_far=args.far,
            c=args.c,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"gait svm: {exc}") from exc
    model.save(args.out)
    print(
        f"svm: {len(model.classes)} identities from {len(labelled)} vectors; open-set threshold "
        f"{model.threshold:.3f} for FAR {args.far:g} ({model.info['threshold_from']}) → {args.out}"
    )
    return 0
