"""The training stages as objects, one per stage, looked up by name in `STAGES`.

A stage knows what the training loop (loops.py) asks of it: the model it trains and the product it keeps, its
data as a tf.data.Dataset, the measure it validates on each epoch and what it monitors, and how it ends. The
loop, the trainer and the driver (run.py) take it from the table instead of branching on the stage's name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pipeline.evaluate.protocol import nearest_rank1
from pipeline.models.heatmaps import heatmaps_to_joints, pck
from pipeline.train import set_stage
from pipeline.train.checkpoints import WEIGHTS
from pipeline.train.config import StageConfig, TrainConfig
from pipeline.train.streaming import tf_pk_dataset


class Stage:
    """What every stage shares: its optimisation settings by name, validation on the loss, no extra measure."""

    name: ClassVar[str]
    monitor: ClassVar[tuple[str, str]] = ("val_loss", "min")  # what EarlyStopping and ReduceLROnPlateau watch
    streaming: ClassVar[bool] = False  # every worker streams the whole dataset (trainer.py) rather than a part

    def options(self, cfg: TrainConfig) -> StageConfig:
        return getattr(cfg, self.name)

    def build(self, cfg: TrainConfig, spec: dict[str, Any]) -> tuple[Any, Any]:
        """(model to train, compiled; model whose weights are the stage's product)."""
        raise NotImplementedError

    def dataset(self, data: Any, batch_size: int, spec: dict[str, Any], cfg: TrainConfig, shuffle: bool) -> Any:
        """A Ray Dataset (or a worker's shard of one) as a tf.data.Dataset of (inputs, targets)."""
        raise NotImplementedError

    def measures(self, model: Any, data: dict[str, np.ndarray], spec: dict[str, Any]) -> dict[str, float]:
        """The stage's own validation figures on `spec["evaluation"]`, added to each epoch's logs."""
        return {}

    def validation(self, product: Any, clone: Any, spec: dict[str, Any], session: Any) -> Any:
        """A Keras callback adding `measures` to the epoch's logs, computed on a local copy of the model (no
        collective ops); None when the spec brings no evaluation data."""
        import tf_keras as keras

        evaluation = spec.get("evaluation")
        if not evaluation:
            return None
        import ray

        data = ray.get(evaluation) if isinstance(evaluation, ray.ObjectRef) else evaluation
        measures = self.measures

        class Validation(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                if logs is None:
                    return
                clone.set_weights(product.get_weights())
                logs.update(measures(clone, data, spec))

        return Validation()

    def finish(self, model: Any, callbacks: list[Any]) -> None:
        """After fitting, before the final checkpoint: nothing by default."""


def _to_tf(data: Any, features: str, labels: str, batch_size: int, shuffle: bool) -> Any:
    """A Ray Dataset (or a worker's shard) as a tf.data.Dataset of (features, labels) batches, tf.data's
    autotuning off.

    Keras makes a new iterator over it every epoch and destroys the last one. With autotuning on, destroying it
    can wait for the tuning thread's sleep, which grows toward a minute as the iterator lives: idle CPU between
    epochs (bench/bench_epoch_gap.py). These pipelines only cast and scale: nothing to tune."""
    import tensorflow as tf

    kwargs: dict[str, Any] = {"batch_size": batch_size, "drop_last": True}
    if shuffle:
        # A new order every epoch (no seed), on top of the one global shuffle of data.gait_dataset: SGD
        # over the same order every epoch generalised worse to held-out people in the demo.
        kwargs.update(local_shuffle_buffer_size=1024)
    options = tf.data.Options()
    options.autotune.enabled = False
    return data.to_tf(features, labels, **kwargs).with_options(options)


class PoseStage(Stage):
    """Stage 1, HumanPoseNN: frames → joint heatmaps, validated by PCK@0.2."""

    name = "pose"

    def build(self, cfg: TrainConfig, spec: dict[str, Any]) -> tuple[Any, Any]:
        import tf_keras as keras

        from pipeline.models import pose

        size = tuple(spec["input_size"])  # (width, height), as in the shards
        net = pose.build_pose_net((size[1], size[0]), cfg.backbone, cfg.feature_channels, cfg.backbone_weights)
        model = keras.Model(net.input, net.output["heatmaps"], name="pose_heatmaps")
        model.compile(optimizer=keras.optimizers.Adam(cfg.pose.learning_rate), loss=weighted_heatmap_loss(20.0))
        return model, net

    def dataset(self, data: Any, batch_size: int, spec: dict[str, Any], cfg: TrainConfig, shuffle: bool) -> Any:
        import tensorflow as tf

        size = tuple(spec["input_size"])
        ds = _to_tf(data, "image", "joints", batch_size, shuffle)
        hsize = (size[0] // 2, size[1] // 2)
        return ds.map(lambda x, j: (tf.cast(x, tf.float32) / 255.0, heatmap_targets(j, size, hsize, cfg.heatmap_sigma)))

    def measures(self, model: Any, data: dict[str, np.ndarray], spec: dict[str, Any]) -> dict[str, float]:
        maps = model.predict(data["image"].astype(np.float32) / 255.0, batch_size=128, verbose=0)["heatmaps"]
        return {"val_pck": float(pck(heatmaps_to_joints(maps, tuple(spec["input_size"]))[..., :2], data["joints"]))}


class GaitStage(Stage):
    """Stage 2, GaitNN behind HumanPoseNN or the silhouette encoder (or alone on stage 1's precomputed
    features): clips → identity vectors, validated by nearest-neighbour rank-1 of held-out clips."""

    name = "gait"

    def build(self, cfg: TrainConfig, spec: dict[str, Any]) -> tuple[Any, Any]:
        from pipeline.models import gait, pose, silhouette

        size = tuple(spec["input_size"])  # (width, height), as in the shards
        hw = (size[1], size[0])  # the model builders take (height, width)
        frozen = spec.get("features_shape")  # stage 1 frozen and run once (train/features.py): GaitNN alone
        fshape = tuple(frozen) if frozen else (size[1] // 4, size[0] // 4, cfg.feature_channels)
        gnet = gait.build_gait_net(fshape, **cfg.gait_net_options())
        if frozen:
            product = gnet
        else:
            if cfg.first_stage == "pose":
                first = pose.build_pose_net(hw, cfg.backbone, cfg.feature_channels, None)
                if spec.get("pose_weights") is not None:
                    load_weights(first, spec["pose_weights"])
                first.trainable = cfg.finetune_pose
                channels = 3
            else:
                first = silhouette.build_silhouette_encoder(hw, cfg.feature_channels)
                channels = 1
            product = gait.build_embedder(first, gnet, (size[1], size[0], channels))
        head = gait.build_gait_classifier(
            product, spec["num_classes"], cfg.dropout, margin=cfg.margin, branches=cfg.branches
        )
        return _compile_gait(cfg, head, product)

    def dataset(self, data: Any, batch_size: int, spec: dict[str, Any], cfg: TrainConfig, shuffle: bool) -> Any:
        import tensorflow as tf

        ds = _to_tf(data, "clip", "label", batch_size, shuffle)
        scale = clip_scale(spec)
        if shuffle and cfg.gait_train_frames > 0:
            ds = ds.map(lambda x, y: (random_frames(x, cfg.gait_train_frames), y))
        if cfg.triplet_weight > 0:
            return ds.map(lambda x, y: (tf.cast(x, tf.float32) * scale, {"probs": y, "embedding": y}))
        return ds.map(lambda x, y: (tf.cast(x, tf.float32) * scale, y))

    def measures(self, model: Any, data: dict[str, np.ndarray], spec: dict[str, Any]) -> dict[str, float]:
        scale = clip_scale(spec)
        emb_g = model.predict(data["gallery"].astype(np.float32) * scale, batch_size=32, verbose=0)
        emb_p = model.predict(data["probe"].astype(np.float32) * scale, batch_size=32, verbose=0)
        return {"val_rank1": nearest_rank1(emb_p, data["probe_labels"], emb_g, data["gallery_labels"])}


class SetStage(Stage):
    """Stage 2 the field's way on silhouettes (set_stage.py): streamed P × K batches, validated by rank-1 of
    people it never trained on (higher is better), keeping the best epoch however training ends."""

    name = "set"
    monitor = ("val_rank1", "max")
    streaming = True

    def options(self, cfg: TrainConfig) -> StageConfig:
        return cfg.gait

    def build(self, cfg: TrainConfig, spec: dict[str, Any]) -> tuple[Any, Any]:
        return set_stage.build_set_stage(cfg, spec)

    def dataset(self, data: Any, batch_size: int, spec: dict[str, Any], cfg: TrainConfig, shuffle: bool) -> Any:
        # Validation runs in its callback on the validation people, not as Keras's validation pass.
        return tf_pk_dataset(data, cfg, spec, cfg.seed + 1000 * spec.get("rank", 0)) if shuffle else None

    def validation(self, product: Any, clone: Any, spec: dict[str, Any], session: Any) -> Any:
        return set_stage.validation_callback(clone, product, session.dataset("val"))

    def finish(self, model: Any, callbacks: list[Any]) -> None:
        """The product is the best epoch on the validation people, however training ended."""
        import tf_keras as keras

        stopper = next(cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping))
        if stopper.best_weights is not None:
            model.set_weights(stopper.best_weights)


class PresenceStage(Stage):
    """The presence classifier: whole frames → probability that a person is present."""

    name = "presence"

    def build(self, cfg: TrainConfig, spec: dict[str, Any]) -> tuple[Any, Any]:
        import tf_keras as keras

        from pipeline.models import presence

        size = tuple(spec["input_size"])
        net = presence.build_presence_net((size[1], size[0]))
        net.compile(
            optimizer=keras.optimizers.Adam(cfg.presence.learning_rate),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        return net, net

    def dataset(self, data: Any, batch_size: int, spec: dict[str, Any], cfg: TrainConfig, shuffle: bool) -> Any:
        import tensorflow as tf

        ds = _to_tf(data, "image", "label", batch_size, shuffle)
        return ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))


STAGES: dict[str, Stage] = {s.name: s for s in (PoseStage(), GaitStage(), SetStage(), PresenceStage())}


def build_stage_model(stage: str, cfg: TrainConfig, spec: dict[str, Any]) -> tuple[Any, Any]:
    """(model to train, compiled; model whose weights are the stage's product) of the stage named `stage`."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    return STAGES[stage].build(cfg, spec)


def load_weights(net: Any, weights: Any) -> None:
    """Weights from an HDF5 file's path, its bytes, or an ObjectRef to its bytes. The driver hands stage 1's
    weights to stage 2's workers and feature actors by ObjectRef: the object store reaches every node, a file
    on the driver's disk does not."""
    if isinstance(weights, str | os.PathLike):
        net.load_weights(str(weights))
        return
    import ray

    data = ray.get(weights) if isinstance(weights, ray.ObjectRef) else weights
    with tempfile.TemporaryDirectory(prefix="gait-weights-") as d:
        path = Path(d) / WEIGHTS
        path.write_bytes(data)
        net.load_weights(str(path))


def _compile_gait(cfg: TrainConfig, classifier: Any, embedder: Any) -> tuple[Any, Any]:
    """Softmax (or additive-margin softmax) over the training subjects, plus the batch-hard triplet loss on the
    vector when asked."""
    import tf_keras as keras

    from pipeline.models import gait

    ce = gait.am_softmax_loss(cfg.margin) if cfg.margin > 0 else "sparse_categorical_crossentropy"
    accuracy = gait.accuracy if cfg.branches > 1 else keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    if cfg.triplet_weight > 0:
        model = keras.Model(classifier.input, {"probs": classifier.output, "embedding": embedder.output})
        model.compile(
            optimizer=keras.optimizers.Adam(cfg.gait.learning_rate),
            loss={"probs": ce, "embedding": gait.batch_hard_triplet_loss()},
            loss_weights={"probs": 1.0, "embedding": cfg.triplet_weight},
            metrics={"probs": [accuracy]},
        )
    else:
        model = classifier
        model.compile(optimizer=keras.optimizers.Adam(cfg.gait.learning_rate), loss=ce, metrics=[accuracy])
    return model, embedder


def clip_scale(spec: dict[str, Any]) -> float:
    """Stage 2's inputs: uint8 pixels scaled to [0, 1], or precomputed features taken as they are."""
    return 1.0 if spec.get("features_shape") else 1.0 / 255.0


def weighted_heatmap_loss(alpha: float) -> Any:
    """MSE with the pixels near a joint weighted 1 + alpha × target. Plain MSE on sparse heatmaps settles on
    all-zero maps for many epochs (PCK 0.08 after 7 demo epochs; weighted: 0.91 after 8)."""
    import tensorflow as tf

    def loss(target: Any, pred: Any) -> Any:
        return tf.reduce_mean(tf.square(pred - target) * (1.0 + alpha * target))

    return loss


def heatmap_targets(joints: Any, input_size: tuple[int, int], heatmap_size: tuple[int, int], sigma: float) -> Any:
    """TF version of pipeline.models.heatmaps.joints_to_heatmaps (same formula; the tests compare them)."""
    import tensorflow as tf

    (w, h), (hw, hh) = input_size, heatmap_size
    jx = (joints[..., 0] + 0.5) * (hw / w) - 0.5
    jy = (joints[..., 1] + 0.5) * (hh / h) - 0.5
    vis = tf.cast(joints[..., 2] > 0, tf.float32)
    gx = tf.exp(-tf.square(tf.range(hw, dtype=tf.float32)[None, None, :] - jx[..., None]) / (2 * sigma**2))
    gy = tf.exp(-tf.square(tf.range(hh, dtype=tf.float32)[None, None, :] - jy[..., None]) / (2 * sigma**2))
    maps = gy[..., :, None] * gx[..., None, :] * vis[..., None, None]  # [B, 16, hh, hw]
    return tf.transpose(maps, [0, 2, 3, 1])


def random_frames(clips: Any, length: int) -> Any:
    """A batch of clips [B, T, ...] → a run of `length` consecutive frames from a random start (one per batch).
    Average temporal pooling takes any length, so the model sees the whole clip at inference; training on
    shorter random runs keeps it from learning where in the clip a stride starts (GaitSet and GaitBase also
    train on random frame subsets)."""
    import tensorflow as tf

    t = tf.shape(clips)[1]
    n = tf.minimum(length, t)
    start = tf.random.uniform((), 0, t - n + 1, dtype=tf.int32)
    return clips[:, start : start + n]
