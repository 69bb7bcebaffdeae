"""Bulk-indexing settings (`gait index`, a run config's `index:` section) and where it reads and writes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IndexConfig:
    """How an archive is turned into vectors: the embedding actors, batches and commits."""

    layout: str | None = None  # force a dataset layout instead of detecting it
    actors: int = 1  # embedding actors, at most (one per GPU on a GPU cluster)
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    threads_per_actor: int = 0  # TensorFlow threads of each actor (0: its default, every core of the node)
    batch_size: int = 32  # clips per embedding batch
    sequences_per_task: int = 0  # sequences each decoding task takes (0: about 4 tasks per CPU)
    commit_every: int = 32  # sequences per committed Parquet part

    def __post_init__(self) -> None:
        if self.actors < 1 or self.batch_size < 1 or self.commit_every < 1:
            raise ValueError("invalid index config: actors, batch_size and commit_every must be positive")
        if min(self.cpus_per_actor, self.gpus_per_actor, self.threads_per_actor, self.sequences_per_task) < 0:
            raise ValueError("invalid index config: CPUs, GPUs, threads and sequences per task cannot be negative")


@dataclass(frozen=True)
class IndexPaths:
    archive: str  # videos or frame folders, any layout `gait preprocess` knows
    model: str  # a model directory made by `gait train`
    out: str  # the gallery (created, or resumed)
