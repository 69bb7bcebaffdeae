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
    """Inside a Ray Train worker."""

    distributed = True

    def __init__(self, resume_from: str | None = None) -> None:
        import ray.train

        self.resume_from = resume_from  # a checkpoint of an earlier, stopped run of the same name
        ctx = ray.train.get_context()
        self.world_rank = ctx.get_world_rank()
        self.world_size = ctx.get_world_size()

    def dataset(self, name: str) -> Any:
        import ray.train

        return ray.train.get_dataset_shard(f"{name}_{self.world_rank}")  # see trainer.per_worker_parts

    @contextmanager
    def checkpoint(self) -> Iterator[Path | None]:
        import ray.train

        # Within a run Ray Train hands back the last reported checkpoint; else the stopped run's, if any.
        ckpt = ray.train.get_checkpoint()
        if ckpt is None and self.resume_from:
            ckpt = ray.train.Checkpoint(path=self.resume_from)
        if ckpt is None:
            yield None
            return
        with ckpt.as_directory() as d:
            yield Path(d)

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None = None) -> None:
        import ray.train

        checkpoint = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)
