"""Ray job: train the two-stage network and the presence classifier on the config's shards.

    ray job submit --working-dir . -- python jobs/train.py --config configs/demo.yaml [--shards DIR]

Without --shards it trains on WORKDIR/shards (what jobs/preprocess.py wrote); the model goes to WORKDIR/model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.config import load_config
from pipeline.train.run import train_or_reuse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.yaml", help="run config (configs/*.yaml)")
    ap.add_argument("--workdir", help="where outputs go (default: the config's workdir)")
    ap.add_argument("--shards", help="shards to train on (default: WORKDIR/shards)")
    ap.add_argument("--overwrite", action="store_true", help="train again even if the model is there")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.workdir)
    shards = args.shards or str((cfg.workdir / "shards").absolute())
    summary = train_or_reuse(shards, (cfg.workdir / "model").absolute(), cfg.train, overwrite=args.overwrite)
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
