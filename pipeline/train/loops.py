"""The training loop of each stage, run by every Ray Train worker (or by one local process).

Each epoch: Keras fits on this worker's shard (MultiWorkerMirroredStrategy all-reduces gradients and the
validation metrics, so EarlyStopping stops every worker at the same epoch), then rank 0 saves the weights and
the loop state into a checkpoint (checkpoints.py). What differs between stages (models, data, validation
measure, what is monitored) comes from the stage's object in `stages.STAGES`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pipeline.train.checkpoints import checkpoint_callback, report_state, resume
from pipeline.train.config import TrainConfig
from pipeline.train.faults import kill_callback
from pipeline.train.session import RaySession
from pipeline.train.stages import STAGES


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


# -- callbacks ------------------------------------------------------------------------------------------------
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


# -- the loop -------------------------------------------------------------------------------------------------
def stage_loop(config: dict[str, Any], session: Any = None) -> None:
    """Train one stage. `config`: stage, train (TrainConfig dict), spec (input size, classes, …); `crash` only
    from tests (faults.py)."""
    import tensorflow as tf
    import tf_keras as keras

    session = session or RaySession(config.get("storage_path"), config.get("run_name"), config.get("streaming", False))
    stage, spec = STAGES[config["stage"]], config["spec"]
    cfg = TrainConfig.from_dict(config["train"])
    opt = stage.options(cfg)
    threads = cfg.threads_per_worker or max(1, int(cfg.cpus_per_worker))
    try:  # one worker per CPU: TensorFlow's own pools would only oversubscribe them
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        pass  # already initialised in this process (local mode after an earlier stage)
    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy(precision_policy(cfg.mixed_precision))
    # MultiWorkerMirroredStrategy only with other workers (session.distributed). Under it Keras reads each epoch
    # through a multi-device iterator whose per-device pipeline tf.data autotunes whatever the dataset's options
    # say, and destroying it at the epoch's end waited for the tuning thread's sleep: 8 to 17 s of idle CPU after
    # 4 to 8 of the demo's 20 GaitNN epochs, when one worker trained under it too (gdb: RootDataset::Iterator::
    # ~Iterator joining Model::OptimizeLoop; docs/training.md). Alone, a worker reads the stage's own dataset,
    # autotuning off.
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if session.distributed else tf.distribute.get_strategy()
    with strategy.scope():
        model, product = stage.build(cfg, spec)
    _, clone = stage.build(cfg, spec)  # outside the strategy: for local validation measures

    history, finished = resume(session, model, product, clone)
    if finished:
        return
    initial_epoch = history[-1]["epoch"] + 1 if history else 0
    per_worker = max(1, opt.batch_size // session.world_size)
    spec = {**spec, "rank": session.world_rank}
    train = stage.dataset(session.dataset("train"), per_worker, spec, cfg, shuffle=True)
    val = stage.dataset(session.dataset("val"), per_worker, spec, cfg, shuffle=False)
    monitor, mode = stage.monitor
    callbacks = [
        cb
        for cb in (
            _EpochTimer.make(),
            stage.validation(product, clone, spec, session),
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=mode, factor=opt.lr_factor, patience=opt.lr_patience, min_lr=opt.min_lr
            ),
            keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=opt.patience, restore_best_weights=True),
            checkpoint_callback(session, product, clone, model.optimizer, history, initial_epoch),
            kill_callback(config.get("crash"), session.world_rank),  # tests only: None unless asked
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
        stage.finish(model, callbacks)
    report_state(session, product, clone, history, final=True)
    keras.mixed_precision.set_global_policy("float32")  # this process may build more models (workers=0)
