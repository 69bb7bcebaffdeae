"""Training throughput of the streaming P × K path (`gait train`, Ray Train, shards read as they are needed)
against plain `model.fit` on the same model with the same clips already in memory, in one run.

    python bench/bench_train_set.py SHARDS [--preset casia-b-cpu] [--steps 100]

Both train the preset's set model for one warm-up epoch and one measured epoch of `--steps` steps of
P × K clips of `set_frames` frames; the measured epoch's training seconds (history's `train_seconds`, validation
excluded) give clips per second. Plain `model.fit` is the ceiling: its clips sit in memory as float32 arrays (what
the streaming path exists to avoid at full scale), so the ratio says what streaming, sampling and Ray Train cost.
Writes bench/results/train_set.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "train_set.json"


def _clips_in_memory(shards: str, n: int, frames: int, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The first `n` training clips, `frames` random frames each, as the plain baseline holds them."""
    import pyarrow.dataset as pads

    from pipeline.ingest.shards import _shards, decode_column, tensor_specs

    fs, path = _shards(shards)
    ds = pads.dataset(path, filesystem=fs, format="parquet")
    specs = tensor_specs(ds.schema)
    index = {s: i for i, s in enumerate(classes)}
    clips, labels = [], []
    scanner = ds.scanner(columns=["silhouettes", "subject"], filter=pads.field("split") == "train", batch_size=256)
    rng = np.random.default_rng(0)
    for batch in scanner.to_batches():
        sil = decode_column(batch.column("silhouettes"), *specs["silhouettes"])
        idx = np.argsort(rng.random(sil.shape[:2]), axis=1)[:, :frames]
        clips.append(np.take_along_axis(sil, idx[..., None, None], axis=1))
        labels += [index[s] for s in batch.column("subject").to_pylist()]
        if sum(len(c) for c in clips) >= n:
            break
    x = np.concatenate(clips)[:n, ..., None].astype(np.float32) / 255.0
    return x, np.asarray(labels[:n], np.int32)


def plain_fit(shards: str, cfg, steps: int, classes: list[str], size: list[int]) -> float:
    """Clips per second of model.fit on in-memory arrays, batches of P × K clips, the same model and losses."""
    from pipeline.train.set_stage import build_set_stage

    batch = cfg.sampler_p * cfg.sampler_k
    x, y = _clips_in_memory(shards, steps * batch, cfg.set_frames, classes)
    model, _ = build_set_stage(cfg, {"input_size": size, "num_classes": len(classes)})
    targets = {"parts": y, "logits": y}
    model.fit(x, targets, batch_size=batch, epochs=1, steps_per_epoch=min(steps, 10), verbose=0)  # warm-up
    t0 = time.perf_counter()
    model.fit(x, targets, batch_size=batch, epochs=1, shuffle=True, verbose=0)
    return len(x) / (time.perf_counter() - t0)


def streaming_fit(shards: str, cfg, steps: int) -> tuple[float, float]:
    """Clips per second of `gait train`'s measured epoch, and the whole call's seconds."""
    from pipeline.train.config import StageConfig
    from pipeline.train.run import train

    run = cfg.with_changes(steps_per_epoch=steps, gait=StageConfig(epochs=2, learning_rate=cfg.gait.learning_rate))
    with tempfile.TemporaryDirectory(prefix="bench-train-set-") as d:
        t0 = time.perf_counter()
        summary = train(shards, Path(d) / "model", run)
        total = time.perf_counter() - t0
        rows = [r for r in _history(Path(d) / "model") if r["stage"] == "set"]
    seconds = float(rows[-1]["train_seconds"])
    del summary
    return steps * cfg.sampler_p * cfg.sampler_k / seconds, total


def _history(model_dir: Path) -> list[dict]:
    import csv

    with open(model_dir / "history.csv") as fh:
        return list(csv.DictReader(fh))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shards")
    ap.add_argument("--preset", default="casia-b-cpu")
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()

    from pipeline.common.ray_init import ensure_ray
    from pipeline.ingest.shards import read_meta
    from pipeline.train.config import PRESETS
    from pipeline.train.data import label_map

    cfg = PRESETS[args.preset]
    meta = read_meta(args.shards)
    size = [meta["config"]["width"], meta["config"]["height"]]
    classes = label_map(args.shards)
    ensure_ray(None)
    print(f"streaming: gait train, {args.steps} steps of {cfg.sampler_p} x {cfg.sampler_k} …", flush=True)
    stream, total = streaming_fit(args.shards, cfg, args.steps)
    print(f"  {stream:.1f} clips/s ({total:.0f} s for the whole call, start-up and validation included)", flush=True)
    print(f"plain model.fit on {args.steps * cfg.sampler_p * cfg.sampler_k} clips in memory …", flush=True)
    plain = plain_fit(args.shards, cfg, args.steps, classes, size)
    print(f"  {plain:.1f} clips/s", flush=True)
    result = {
        "command": f"python bench/bench_train_set.py {args.shards} --preset {args.preset} --steps {args.steps}",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "preset": args.preset,
        "steps": args.steps,
        "clips_per_step": cfg.sampler_p * cfg.sampler_k,
        "frames_per_clip": cfg.set_frames,
        "streaming_clips_per_s": round(stream, 2),
        "streaming_call_seconds": round(total, 1),
        "plain_fit_clips_per_s": round(plain, 2),
        "ratio_streaming_over_plain": round(stream / plain, 3),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"training throughput: streaming P x K {stream:.1f} clips/s, plain model.fit {plain:.1f} clips/s, "
        f"ratio {stream / plain:.2f} (written to {RESULTS})"
    )


if __name__ == "__main__":
    main()
