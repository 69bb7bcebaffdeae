"""Evaluation settings (`gait evaluate`, a run config's `evaluate:` section) and what it reads and writes."""

from __future__ import annotations

from dataclasses import dataclass

BASELINES = ("gei", "none")


@dataclass(frozen=True)
class EvaluateConfig:
    baseline: str = "gei"  # the classical baseline beside the network (none: only the network)
    far: float = 0.01  # target false-accept rate of the SVM's open-set threshold
    actors: int = 1  # embedding actors when the shards' clips are embedded
    gpus_per_actor: float = 0.0

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise ValueError(f"invalid evaluate config: baseline must be one of {BASELINES}")
        if not 0 < self.far < 1 or self.actors < 1 or self.gpus_per_actor < 0:
            raise ValueError("invalid evaluate config: far in (0, 1), actors positive, gpus_per_actor not negative")


@dataclass(frozen=True)
class EvaluatePaths:
    model: str
    shards: str  # made by `gait preprocess`: gives the splits
    gallery: str | None = None  # vectors made by `gait index` with this model (None: embed the shards' clips)
    out: str | None = None  # the report's directory (None: MODEL/evaluation)
