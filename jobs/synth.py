"""Ray job: generate the synthetic dataset a config names.

ray job submit --working-dir . -- python jobs/synth.py --config configs/demo.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.config import load_config
from pipeline.synth import generate_dataset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/demo.yaml", help="run config (configs/*.yaml)")
    ap.add_argument("--workdir", help="where outputs go (default: the config's workdir)")
    ap.add_argument("--overwrite", action="store_true", help="regenerate even if the data is there")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.workdir)
    summary = generate_dataset(cfg.synth, cfg.workdir / "synth", overwrite=args.overwrite)
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
