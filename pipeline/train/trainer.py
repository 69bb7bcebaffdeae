"""Running a stage: a TensorflowTrainer over `workers` Ray Train workers, or the same loop in this process."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.common.ray_init import runtime_env
from pipeline.common.read_ahead import READ_AHEAD_BYTES, capped_ingest_options, limit_read_ahead
from pipeline.train.checkpoints import STATE, WEIGHTS
from pipeline.train.config import TrainConfig
from pipeline.train.loops import stage_loop
from pipeline.train.session import LocalSession
from pipeline.train.stages import STAGES


@dataclass
class StageResult:
    stage: str
    weights: Path  # the stage's best weights (HDF5), copied out of the final checkpoint
    history: list[dict[str, Any]]  # one row per epoch (loss, val_loss, accuracy, lr, …)
    attempts: int  # worker-group starts: > 1 after a worker died and Train resumed from a checkpoint


def _collect(checkpoint_dir: Path, stage: str, dest: Path) -> tuple[Path, list[dict[str, Any]]]:
    state = json.loads((checkpoint_dir / STATE).read_text())
    if not state["final"]:
        raise RuntimeError(f"stage {stage} ended without its final checkpoint")
    dest.mkdir(parents=True, exist_ok=True)
    weights = dest / f"{stage}.weights.h5"  # Keras v3 weights, like the checkpoint
    shutil.copyfile(checkpoint_dir / WEIGHTS, weights)
    return weights, state["history"]


def per_worker_parts(datasets: dict[str, Any], workers: int) -> dict[str, Any]:
    """Each dataset split here, before training, into equal parts named `<name>_<rank>`.

    Ray Train would split them itself while the workers train, with Ray Data tasks that need CPUs; when the
    workers hold every CPU (2 workers × 1 CPU on 2 CPUs) those tasks never start and training hangs. Split now,
    the parts are materialised and the workers only read their own. Equal parts also keep every worker's batch
    count the same, which MultiWorkerMirroredStrategy's collectives need.
    """
    parts = {}
    for name, ds in datasets.items():
        for rank, part in enumerate(ds.split(workers, equal=True)):
            parts[f"{name}_{rank}"] = part
    return parts


def fit_stage(
    stage: str,
    cfg: TrainConfig,
    datasets: dict[str, Any],
    spec: dict[str, Any],
    dest: Path,
    *,
    name: str,
    storage_path: str,
    crash: dict[str, Any] | None = None,
) -> StageResult:
    """Train `stage` and copy its best weights to `dest`. Same `name` and `storage_path` → resume that run.
    `crash` is for tests only (faults.py): a worker killed at a given epoch."""
    config = {"stage": stage, "train": cfg.to_dict(), "spec": spec, "crash": crash}
    streaming = STAGES[stage].streaming
    if cfg.workers == 0:
        if streaming:
            for ds in datasets.values():
                limit_read_ahead(ds, READ_AHEAD_BYTES)
        session = LocalSession(datasets)
        stage_loop(config, session)
        weights, history = _collect(session.last_checkpoint, stage, dest)
        return StageResult(stage, weights, history, 1)

    import ray.train
    from ray.train.tensorflow import TensorflowTrainer

    config["storage_path"], config["run_name"] = storage_path, name  # the loop resumes from there too
    # Streaming stages: every worker streams the whole dataset itself, files in its own order, and its P × K
    # sampler draws with its own seed; an epoch is a fixed number of steps. A streaming split would make the
    # workers wait for each other at every pass's end while MultiWorkerMirroredStrategy makes them wait for each
    # other at every step: a worker one batch short of the others would deadlock them. The workers must leave
    # CPUs to Ray Data (cpus_per_worker below the node's). Other stages: equal parts made now (per_worker_parts).
    config["streaming"] = streaming

    for ds in datasets.values():
        # The loop reports each epoch itself; Ray Data's bars in the workers would print their last lines when
        # the workers exit, after the job's own summary.
        ds.context.enable_progress_bars = False
    resources = {"CPU": cfg.cpus_per_worker}
    if cfg.gpus_per_worker:
        resources["GPU"] = cfg.gpus_per_worker
    trainer = TensorflowTrainer(
        stage_loop,
        train_loop_config=config,
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.workers, use_gpu=cfg.gpus_per_worker > 0, resources_per_worker=resources
        ),
        datasets=datasets if streaming else per_worker_parts(datasets, cfg.workers),
        # Streaming: each worker's read-ahead capped (READ_AHEAD_BYTES), so memory does not follow the data's size.
        dataset_config=ray.train.DataConfig(
            datasets_to_split=[], execution_options=capped_ingest_options() if streaming else None
        ),
        run_config=ray.train.RunConfig(
            name=name,
            storage_path=storage_path,
            failure_config=ray.train.FailureConfig(max_failures=cfg.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            worker_runtime_env=runtime_env(),
        ),
    )
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    with result.checkpoint.as_directory() as d:
        weights, history = _collect(Path(d), stage, dest)
    starts = {row.get("start_epoch", 0) for row in history}
    attempts = len(starts) if starts else 1  # each resume starts at a later epoch
    return StageResult(stage, weights, history, attempts)
