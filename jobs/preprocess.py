"""Ray job: decode the config's dataset into Parquet clip shards.

    ray job submit --working-dir . -- python jobs/preprocess.py --config configs/demo.yaml [--src DIR]

Without --src it preprocesses the synthetic dataset that jobs/synth.py wrote under the workdir.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.config import load_config
from pipeline.ingest.preprocess import preprocess_or_reuse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.yaml", help="run config (configs/*.yaml)")
    ap.add_argument("--workdir", help="where outputs go (default: the config's workdir)")
    ap.add_argument("--src", help="dataset to preprocess (default: WORKDIR/synth)")
    ap.add_argument("--overwrite", action="store_true", help="rebuild even if the shards are there")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.workdir)
    src = args.src or str(cfg.workdir / "synth")
    summary = preprocess_or_reuse(src, str(cfg.workdir / "shards"), cfg.preprocess, overwrite=args.overwrite)
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
