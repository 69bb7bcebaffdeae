"""Ray job: the main job. Runs every stage of a config in order and prints one summary.

    python jobs/pipeline.py --config configs/demo.yaml          # embedded local Ray (make demo)
    ray job submit --working-dir . -- python jobs/pipeline.py --config configs/demo.yaml

Stages: synth → preprocess → train → index → evaluate → serve (identify a held-out walk over HTTP). Each
stage reuses what an earlier run built with the same config (indexing skips what the gallery already holds
for the model), unless --overwrite.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.config import load_config
from pipeline.evaluate.run import evaluate
from pipeline.evaluate.summary import summary_lines
from pipeline.identify.index import index_archive
from pipeline.ingest.preprocess import preprocess_or_reuse
from pipeline.serve.demo import serve_and_identify
from pipeline.synth import generate_dataset
from pipeline.train.run import train_or_reuse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.yaml", help="run config (configs/*.yaml)")
    ap.add_argument("--workdir", help="where outputs go (default: the config's workdir)")
    ap.add_argument("--overwrite", action="store_true", help="rebuild every stage instead of reusing outputs")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.workdir)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    synth = generate_dataset(cfg.synth, cfg.workdir / "synth", overwrite=args.overwrite)
    timings["synth"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    shards = preprocess_or_reuse(
        str((cfg.workdir / "synth").absolute()),
        str((cfg.workdir / "shards").absolute()),
        cfg.preprocess,
        overwrite=args.overwrite,
    )
    timings["preprocess"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    model = train_or_reuse(
        str((cfg.workdir / "shards").absolute()),
        (cfg.workdir / "model").absolute(),
        cfg.train,
        overwrite=args.overwrite,
    )
    timings["train"] = time.perf_counter() - t0

    # Bulk indexing of the whole archive with the trained model; evaluation reads its vectors.
    t0 = time.perf_counter()
    gallery = cfg.workdir / "gallery"
    if args.overwrite:
        shutil.rmtree(gallery, ignore_errors=True)
    index = index_archive(str((cfg.workdir / "synth").absolute()), str(model.out), str(gallery.absolute()))
    timings["index"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    metrics = evaluate(
        model.out,
        str((cfg.workdir / "shards").absolute()),
        gallery=str(gallery.absolute()),
    )
    timings["evaluate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    served = serve_and_identify(model.out, str(gallery.absolute()), cfg.workdir)
    timings["serve"] = time.perf_counter() - t0

    print()
    print(f"== {cfg.name}: pipeline summary ==")
    print("\n".join(synth.lines()))
    print("\n".join(shards.lines()))
    print("\n".join(model.lines()))
    print(f"  curves: {model.out / 'curves.png'}")
    print("\n".join(index.lines()))
    print("\n".join(summary_lines(metrics)))
    print("\n".join(served))
    print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
