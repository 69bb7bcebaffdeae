"""Idle time between Keras epochs over a Ray Data dataset: Ray's `to_tf` as it comes (tf.data autotuning on)
against the training stages' own datasets (`train/stages.py:_to_tf`, autotuning off), side by side in one run.

Keras makes a new iterator over the data every epoch and destroys the last one. With autotuning on, that
destruction can wait for the tuning thread's sleep, which doubles up to a minute as the iterator lives: idle
CPU between epochs. Each side fits the same small model for `--epochs` epochs on the same materialised Ray
Dataset of gait-shaped rows; a callback sleeps after each batch so that an epoch lasts as long as the demo's
(~20 s) while the CPUs stay free. It reports the seconds between one epoch's end and the next one's start.

    .venv/bin/python bench/bench_epoch_gap.py [--epochs 6] [--batches 90] [--batch-seconds 0.25]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pipeline.train.config import PRESETS  # importing the package sets the Keras mode before TensorFlow loads

RESULTS = Path(__file__).parent / "results" / "epoch_gap.json"


def _gaps(ds: Any, epochs: int, batch_seconds: float) -> list[float]:
    """Seconds between each epoch's end and the next one's start, fitting a small classifier on `ds`."""
    import tf_keras as keras

    model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    gaps: list[float] = []

    class Clock(keras.callbacks.Callback):
        end: float | None = None

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            if self.end is not None:
                gaps.append(time.perf_counter() - self.end)

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            time.sleep(batch_seconds)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.end = time.perf_counter()

    model.fit(ds, epochs=epochs, verbose=0, callbacks=[Clock()])
    return gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batches", type=int, default=90, help="batches of 16 an epoch")
    parser.add_argument("--batch-seconds", type=float, default=0.25, help="sleep after each batch")
    args = parser.parse_args()

    import numpy as np
    import ray
    import tensorflow as tf

    from pipeline.common.ray_init import ensure_ray
    from pipeline.train.stages import STAGES

    ensure_ray(num_cpus=2, object_store_memory=512 * 2**20)
    rng = np.random.default_rng(0)
    rows = [{"clip": rng.random((4, 8, 8, 4), dtype=np.float32), "label": i % 3} for i in range(16 * args.batches)]
    data = ray.data.from_items(rows).materialize()
    spec = {"input_size": [32, 32], "features_shape": [8, 8, 4]}  # features: taken as they are, not / 255

    plain = data.to_tf("clip", "label", batch_size=16, drop_last=True, local_shuffle_buffer_size=1024)
    plain = plain.map(lambda x, y: (tf.cast(x, tf.float32), y))
    ours = STAGES["gait"].dataset(data, 16, spec, PRESETS["demo"], shuffle=True)
    result: dict[str, Any] = {"epochs": args.epochs, "batches": args.batches, "batch_seconds": args.batch_seconds}
    for name, ds in (("to_tf, autotuning on", plain), ("stages._to_tf, autotuning off", ours)):
        gaps = _gaps(ds, args.epochs, args.batch_seconds)
        result[name] = {"gaps_s": [round(g, 2) for g in gaps], "total_s": round(sum(gaps), 2)}
        print(f"{name}: {len(gaps)} gaps between epochs, {sum(gaps):.2f} s in all: {[round(g, 2) for g in gaps]}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    on, off = result["to_tf, autotuning on"]["total_s"], result["stages._to_tf, autotuning off"]["total_s"]
    print(f"idle between epochs: {on:.1f} s with autotuning, {off:.1f} s without ({RESULTS})")


if __name__ == "__main__":
    main()
