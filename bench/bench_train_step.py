"""Where the demo's training steps spend their time, in one process, side by side. Stage 2: the demo preset's
GaitNN (three branches), batch 16, T=24 frames of HumanPoseNN features (16×16×32): one branch's per-frame
encoder, one branch's LSTM, the whole classifier in float32, in mixed bfloat16, and with `gait_stride: 2`.
Stage 1: HumanPoseNN, batch 64 of 64×64 frames, in float32 and in mixed bfloat16. Ratios, not seconds, are what
a shared machine keeps.

    .venv/bin/python bench/bench_train_step.py [--steps 30]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from pipeline.train.config import PRESETS  # importing the package sets the Keras mode before TensorFlow loads


def _timed(step: Callable[[], Any], steps: int) -> float:
    step()
    step()  # traced and warm
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps * 1000


def _train_step(model: Any, x: Any) -> Callable[[], Any]:
    import tensorflow as tf
    import tf_keras as keras

    opt = keras.optimizers.Adam()

    @tf.function
    def step() -> Any:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.cast(model(x, training=True), tf.float32)))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()

    import tensorflow as tf
    import tf_keras as keras

    from pipeline.models.gait import _frame_encoder, am_softmax_loss, build_gait_classifier, build_gait_net
    from pipeline.train.stages import STAGES

    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    c = PRESETS["demo"]
    feats = tf.random.uniform((16, 24, 16, 16, 32))
    rows: dict[str, float] = {}

    inp = keras.Input((None, 16, 16, 32))
    per_frame = _frame_encoder((16, 16, 32), c.descriptor, c.blocks, 16, stride=c.gait_stride)
    encoder = keras.Model(inp, keras.layers.TimeDistributed(per_frame)(inp))
    rows["one branch's per-frame encoder"] = _timed(_train_step(encoder, feats), args.steps)
    seq = keras.Input((None, c.descriptor))
    lstm = keras.Model(seq, keras.layers.LSTM(c.units, return_sequences=True)(seq))
    rows["one branch's LSTM"] = _timed(_train_step(lstm, tf.random.uniform((16, 24, c.descriptor))), args.steps)

    labels = tf.random.uniform((16,), 0, 36, dtype=tf.int32)
    for policy, stride, name in (
        ("float32", c.gait_stride, "float32"),
        ("mixed_bfloat16", c.gait_stride, "mixed_bfloat16"),
        ("float32", 2, "float32, gait_stride 2"),
    ):
        keras.mixed_precision.set_global_policy(policy)
        net = build_gait_net((16, 16, 32), **c.with_changes(gait_stride=stride).gait_net_options())
        clf = build_gait_classifier(net, 36, dropout=c.dropout, margin=c.margin, branches=c.branches)
        clf.compile(optimizer=keras.optimizers.Adam(3e-4), loss=am_softmax_loss(c.margin))
        rows[f"the classifier, {c.branches} branches, {name}"] = _timed(
            lambda clf=clf: clf.train_on_batch(feats, labels), args.steps
        )
    frames, maps = tf.random.uniform((64, 64, 64, 3)), tf.random.uniform((64, 32, 32, 16))
    pose_rows: dict[str, float] = {}
    for policy in ("float32", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(policy)
        pose, _ = STAGES["pose"].build(c, {"input_size": (64, 64)})  # compiled as training compiles it
        pose_rows[f"HumanPoseNN, {policy}"] = _timed(lambda pose=pose: pose.train_on_batch(frames, maps), args.steps)
    keras.mixed_precision.set_global_policy("float32")

    for title, table, base in (
        ("GaitNN step (batch 16, T=24)", rows, rows[f"the classifier, {c.branches} branches, float32"]),
        ("HumanPoseNN step (batch 64, 64×64)", pose_rows, pose_rows["HumanPoseNN, float32"]),
    ):
        print(f"{title:<48}{'ms':>9}{'× float32 step':>16}")
        for name, ms in table.items():
            print(f"{name:<48}{ms:>9.1f}{ms / base:>16.2f}")


if __name__ == "__main__":
    main()
