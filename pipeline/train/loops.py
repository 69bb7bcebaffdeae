"""The training loop of each stage, run by every Ray Train worker (or by one local process).

Each epoch: Keras fits on this worker's shard (MultiWorkerMirroredStrategy all-reduces gradients and the
validation metrics, so EarlyStopping stops every worker at the same epoch), then rank 0 saves the weights and
the loop state into a checkpoint that `ray.train.report` keeps. A restarted worker group, or a re-run with the
same name and storage path, resumes from the last checkpoint. The last report carries the best weights.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from pipeline.train.checkpoints import STATE, WEIGHTS
from pipeline.train.config import TrainConfig


# -- models of each stage ------------------------------------------------------------------------------------
def build_stage_model(stage: str, cfg: TrainConfig, spec: dict[str, Any]) -> tuple[Any, Any]:
    """(model to train, compiled; model whose weights are the stage's product)."""
    import tf_keras as keras

    from pipeline.models import gait, pose, presence, silhouette

    size = tuple(spec["input_size"])  # (width, height), as in the shards
    hw = (size[1], size[0])  # the model builders take (height, width)
    if stage == "pose":
        net = pose.build_pose_net(hw, cfg.backbone, cfg.feature_channels, cfg.backbone_weights)
        model = keras.Model(net.input, net.output["heatmaps"], name="pose_heatmaps")
        model.compile(optimizer=keras.optimizers.Adam(cfg.pose.learning_rate), loss=weighted_heatmap_loss(20.0))
        return model, net
    if stage == "gait":
        frozen = spec.get("features_shape")  # stage 1 frozen and run once (train/features.py): GaitNN alone
        fshape = tuple(frozen) if frozen else (size[1] // 4, size[0] // 4, cfg.feature_channels)
        gnet = gait.build_gait_net(
            fshape,
            cfg.rnn,
            cfg.rnn_layers,
            cfg.units,
            cfg.descriptor,
            cfg.embedding,
            cfg.blocks,
            branches=cfg.branches,
        )
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
    if stage == "set":  # the set-based recipe on silhouettes: P × K batches, triplet + softmax per strip
        from pipeline.train.set_stage import build_set_stage

        return build_set_stage(cfg, spec)
    if stage == "presence":
        net = presence.build_presence_net(hw)
        net.compile(
            optimizer=keras.optimizers.Adam(cfg.presence.learning_rate),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        return net, net
    raise ValueError(f"unknown stage {stage!r}")


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


def precision_policy(mixed: bool) -> str:
    """float16 on GPUs, bfloat16 on CPUs that compute it natively (AMX or AVX512-BF16: about twice the set model's
    float32 speed), float32 elsewhere or when not asked. Weights stay float32 either way."""
    import tensorflow as tf

    if not mixed:
        return "float32"
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "float32"
    return "mixed_bfloat16" if flags & {"amx_bf16", "avx512_bf16"} else "float32"


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


def tf_dataset(stage: str, data: Any, batch_size: int, spec: dict[str, Any], cfg: TrainConfig, shuffle: bool) -> Any:
    """A Ray Dataset (or a worker's shard of one) as a tf.data.Dataset of (inputs, targets)."""
    import tensorflow as tf

    kwargs = {"batch_size": batch_size, "drop_last": True}
    if shuffle:
        # A new order every epoch (no seed), on top of the one global shuffle of data.gait_dataset: SGD
        # over the same order every epoch generalised worse to held-out people in the demo.
        kwargs.update(local_shuffle_buffer_size=1024)
    size = tuple(spec["input_size"])
    if stage == "set":
        from pipeline.train.streaming import tf_pk_dataset

        return tf_pk_dataset(data, cfg, spec, cfg.seed + 1000 * spec.get("rank", 0)) if shuffle else None
    if stage == "pose":
        ds = data.to_tf("image", "joints", **kwargs)
        hsize = (size[0] // 2, size[1] // 2)
        return ds.map(lambda x, j: (tf.cast(x, tf.float32) / 255.0, heatmap_targets(j, size, hsize, cfg.heatmap_sigma)))
    if stage == "gait":
        ds = data.to_tf("clip", "label", **kwargs)
        scale = clip_scale(spec)
        if shuffle and cfg.gait_train_frames > 0:
            ds = ds.map(lambda x, y: (random_frames(x, cfg.gait_train_frames), y))
        if cfg.triplet_weight > 0:
            return ds.map(lambda x, y: (tf.cast(x, tf.float32) * scale, {"probs": y, "embedding": y}))
        return ds.map(lambda x, y: (tf.cast(x, tf.float32) * scale, y))
    ds = data.to_tf("image", "label", **kwargs)
    return ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))


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


# -- callbacks ------------------------------------------------------------------------------------------------
def _validation_callback(stage: str, product: Any, clone: Any, spec: dict[str, Any]) -> Any:
    """Adds the stage's real measure to the epoch's logs, computed on a local copy of the model (no collective
    ops): PCK@0.2 for pose, clip-level nearest-neighbour rank-1 for gait."""
    import tf_keras as keras

    evaluation = spec.get("evaluation")
    if not evaluation:
        return None
    import ray

    data = ray.get(evaluation) if isinstance(evaluation, ray.ObjectRef) else evaluation

    class Validation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if logs is None:
                return
            clone.set_weights(product.get_weights())
            logs.update(validation_measures(stage, clone, data, spec))

    return Validation()


def validation_measures(stage: str, model: Any, data: dict[str, np.ndarray], spec: dict[str, Any]) -> dict[str, float]:
    """PCK@0.2 (pose) or rank-1 of held-out clips against training clips by nearest neighbour (gait)."""
    if stage == "pose":
        from pipeline.models.heatmaps import heatmaps_to_joints, pck

        maps = model.predict(data["image"].astype(np.float32) / 255.0, batch_size=128, verbose=0)["heatmaps"]
        return {"val_pck": float(pck(heatmaps_to_joints(maps, tuple(spec["input_size"]))[..., :2], data["joints"]))}
    if stage == "gait":
        scale = clip_scale(spec)
        emb_g = model.predict(data["gallery"].astype(np.float32) * scale, batch_size=32, verbose=0)
        emb_p = model.predict(data["probe"].astype(np.float32) * scale, batch_size=32, verbose=0)
        d = ((emb_p[:, None, :] - emb_g[None, :, :]) ** 2).sum(-1)
        return {"val_rank1": float(np.mean(data["gallery_labels"][d.argmin(1)] == data["probe_labels"]))}
    return {}


class _EpochTimer:
    """Keras callback factory: the epoch's training seconds (`train_seconds`, before any validation callback runs)
    in its logs, for history.csv and the throughput benchmarks."""

    @staticmethod
    def make() -> Any:
        import tf_keras as keras

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                if logs is not None:
                    logs["train_seconds"] = time.perf_counter() - self.t0

        return Timer()


class _TimeBudget:
    """Keras callback factory: stops training before an epoch that would take the stage past `minutes` (the
    epochs' seconds so far, across resumes, plus the last epoch's again). Under MultiWorkerMirroredStrategy the
    workers' clocks differ by a little, so they agree through an all-reduce: all stop, or none does."""

    @staticmethod
    def make(minutes: float, history: list[dict], distributed: bool) -> Any:
        import tensorflow as tf
        import tf_keras as keras

        class Budget(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                spent = sum(r.get("epoch_seconds", 0.0) for r in history)
                over = bool(history) and spent + history[-1].get("epoch_seconds", 0.0) > minutes * 60
                if distributed:
                    strategy = tf.distribute.get_strategy()
                    flags = strategy.run(lambda: tf.constant(1.0 if over else 0.0))
                    over = float(strategy.reduce(tf.distribute.ReduceOp.SUM, flags, axis=None)) > 0
                if over:
                    print(f"time budget: {spent / 60:.1f} of {minutes:g} minutes spent, stopping", flush=True)
                    self.model.stop_training = True

        return Budget()


class _Checkpointing:
    """Keras callback factory: after each epoch, rank 0 writes weights and loop state; everybody reports."""

    @staticmethod
    def make(
        session: Any,
        product: Any,
        clone: Any,
        optimizer: Any,
        history: list[dict],
        crash: dict | None,
        start_epoch: int,
    ) -> Any:
        import tf_keras as keras

        class Report(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                row = {k: float(v) for k, v in (logs or {}).items()}
                row.update(epoch=epoch, lr=float(keras.backend.get_value(optimizer.learning_rate)))
                row["epoch_seconds"] = time.perf_counter() - self.t0  # training and validation
                row["start_epoch"] = start_epoch  # where this attempt began: > 0 after a resume
                history.append(row)
                report_state(session, product, clone, history, final=False)
                if crash and session.world_rank == crash["rank"] and epoch == crash["epoch"]:
                    marker = Path(crash["marker"])
                    if not marker.exists():  # once: the restarted worker must get past this epoch
                        marker.write_text(str(os.getpid()))
                        os.kill(os.getpid(), signal.SIGKILL)

        return Report()


def report_state(session: Any, product: Any, clone: Any, history: list[dict], final: bool) -> None:
    """Every rank reads the weights (under MultiWorkerMirroredStrategy, batch norm's moving statistics are
    sync-on-read: reading them is an all-reduce, and a rank reading alone would wait for the others forever);
    rank 0 then saves them through its local copy of the model and hands the checkpoint to Ray Train."""
    weights = product.get_weights()
    metrics = dict(history[-1]) if history else {}
    metrics["final"] = final
    if session.world_rank != 0:
        session.report(metrics)
        return
    clone.set_weights(weights)
    with tempfile.TemporaryDirectory(prefix="gait-ckpt-") as d:
        clone.save_weights(str(Path(d) / WEIGHTS))
        (Path(d) / STATE).write_text(json.dumps({"history": history, "final": final}))
        session.report(metrics, Path(d))


# -- the loop -------------------------------------------------------------------------------------------------
def stage_loop(config: dict[str, Any], session: Any = None) -> None:
    """Train one stage. `config`: stage, train (TrainConfig dict), spec (input size, classes, …)."""
    import tensorflow as tf
    import tf_keras as keras

    from pipeline.train.session import RaySession

    session = session or RaySession(config.get("storage_path"), config.get("run_name"), config.get("streaming", False))
    stage, spec = config["stage"], config["spec"]
    cfg = TrainConfig.from_dict(config["train"])
    opt = cfg.gait if stage == "set" else getattr(cfg, stage)
    threads = cfg.threads_per_worker or max(1, int(cfg.cpus_per_worker))
    try:  # one worker per CPU: TensorFlow's own pools would only oversubscribe them
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        pass  # already initialised in this process (local mode after an earlier stage)
    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy(precision_policy(cfg.mixed_precision))
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if session.distributed else tf.distribute.get_strategy()
    with strategy.scope():
        model, product = build_stage_model(stage, cfg, spec)
    _, clone = build_stage_model(stage, cfg, spec)  # outside the strategy: for local validation measures

    history: list[dict] = []
    with session.checkpoint() as ckpt:
        if ckpt is not None:
            product.load_weights(str(ckpt / WEIGHTS))
            state = json.loads((ckpt / STATE).read_text())
            history = state["history"]
            if state["final"]:  # this stage already finished: hand its result on again
                report_state(session, product, clone, history, final=True)
                return
            keras.backend.set_value(model.optimizer.learning_rate, history[-1]["lr"])
    initial_epoch = history[-1]["epoch"] + 1 if history else 0
    per_worker = max(1, opt.batch_size // session.world_size)
    spec = {**spec, "rank": session.world_rank}
    train = tf_dataset(stage, session.dataset("train"), per_worker, spec, cfg, shuffle=True)
    val = tf_dataset(stage, session.dataset("val"), per_worker, spec, cfg, shuffle=False)
    # The set stage validates on new people (rank-1, higher is better); the others on the validation loss.
    monitor, mode = ("val_rank1", "max") if stage == "set" else ("val_loss", "min")
    if stage == "set":
        from pipeline.train.set_stage import validation_callback

        validate = validation_callback(clone, product, session.dataset("val"))
    else:
        validate = _validation_callback(stage, product, clone, spec)
    callbacks = [
        cb
        for cb in (
            _EpochTimer.make(),
            validate,
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=mode, factor=opt.lr_factor, patience=opt.lr_patience, min_lr=opt.min_lr
            ),
            keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=opt.patience, restore_best_weights=True),
            _Checkpointing.make(session, product, clone, model.optimizer, history, config.get("crash"), initial_epoch),
            # after the checkpoint, so that the epoch it measures is in the history
            _TimeBudget.make(cfg.max_train_minutes, history, session.distributed) if cfg.max_train_minutes else None,
        )
        if cb is not None
    ]
    if initial_epoch < opt.epochs:
        model.fit(
            train,
            validation_data=val,
            steps_per_epoch=spec.get("steps_per_epoch"),
            epochs=opt.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=2 if session.world_rank == 0 else 0,
        )
        if stage == "set":  # the product is the best epoch on the validation people, however training ended
            stopper = next(cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping))
            if stopper.best_weights is not None:
                model.set_weights(stopper.best_weights)
    report_state(session, product, clone, history, final=True)
    keras.mixed_precision.set_global_policy("float32")  # this process may build more models (workers=0)
