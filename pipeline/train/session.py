"""Where a training loop runs: a Ray Train worker, or this process alone (`--workers 0`, for debugging).

The loop asks its session for data, the checkpoint to resume from, and reports metrics (with a checkpoint
directory on rank 0); the session maps that onto Ray Train or onto plain local state.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.train.checkpoints import checkpoint_progress, latest_checkpoint


class LocalSession:
    """One process, no Ray Train: the datasets are Ray Datasets, checkpoints a local directory."""

    world_rank = 0
    world_size = 1
    distributed = False

    def __init__(self, datasets: dict[str, Any], resume_from: Path | None = None) -> None:
        self.datasets = datasets
        self.resume_from = resume_from
        self.reports: list[dict[str, Any]] = []
        self.last_checkpoint: Path | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="gait-local-ckpt-"))

    def dataset(self, name: str) -> Any:
        return self.datasets[name]

    @contextmanager
    def checkpoint(self) -> Iterator[Path | None]:
        yield self.resume_from

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None = None) -> None:
        self.reports.append(metrics)
        if checkpoint_dir is not None:
            dest = self._dir / f"checkpoint_{len(self.reports):04d}"
            shutil.copytree(checkpoint_dir, dest)
            self.last_checkpoint = dest


class RaySession:
    """Inside a Ray Train worker. `distributed` (collectives, MultiWorkerMirroredStrategy) only with two or more
    workers: one has no one to agree with (loops.stage_loop says what the strategy cost it)."""

    def __init__(self, storage_path: str | None = None, name: str | None = None, streaming: bool = False) -> None:
        import ray.train

        self.storage_path, self.name = storage_path, name  # where this run's checkpoints are persisted
        self.streaming = streaming  # datasets split by Ray Train as they stream, not in parts made beforehand
        ctx = ray.train.get_context()
        self.world_rank = ctx.get_world_rank()
        self.world_size = ctx.get_world_size()
        self.distributed = self.world_size > 1

    def dataset(self, name: str) -> Any:
        import ray.train

        if self.streaming:
            return ray.train.get_dataset_shard(name)
        return ray.train.get_dataset_shard(f"{name}_{self.world_rank}")  # see trainer.per_worker_parts

    @contextmanager
    def checkpoint(self) -> Iterator[Path | None]:
        import ray.train

        # Within a run Ray Train hands back the last checkpoint it registered. Its controller registers reports
        # asynchronously, so a worker group restarted right after a worker died can get an older one, or none
        # (seen: a kill just after epoch 1's report restarted from scratch); the checkpoints persisted in
        # storage are complete once `report` returns. The more advanced of the two wins; with none from Train
        # (a re-run of a stopped job), storage's.
        ckpt = ray.train.get_checkpoint()
        stored = latest_checkpoint(self.storage_path, self.name) if self.storage_path and self.name else None
        if stored and (ckpt is None or checkpoint_progress(stored) > _train_progress(ckpt)):
            ckpt = ray.train.Checkpoint(path=stored)
        if ckpt is None:
            yield None
            return
        with ckpt.as_directory() as d:
            yield Path(d)

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None = None) -> None:
        import ray.train

        checkpoint = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)


def _train_progress(ckpt: Any) -> tuple[int, bool]:
    with ckpt.as_directory() as d:
        return checkpoint_progress(d)
