"""Serving settings (`gait serve` / `gait deploy`, a run config's `serve:` section) and what it serves."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeConfig:
    registry_url: str = ""  # SQLAlchemy URL (default: a SQLite file beside the model)
    host: str = "127.0.0.1"  # loopback only unless told
    port: int = 8000
    no_admin: bool = False  # no enrolment, deletion or listing
    threshold: float | None = None  # cosine similarity under which: "unknown" (None: the model's measured one)
    min_replicas: int = 1  # embedder replicas, autoscaled between these
    max_replicas: int = 2
    gpus_per_replica: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536 or not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError("invalid serve config: port in 1-65535, 1 ≤ min_replicas ≤ max_replicas")


@dataclass(frozen=True)
class ServePaths:
    model: str  # a model directory made by `gait train` (a path or a URI)
    gallery: str = ""  # a gallery whose labelled people are enrolled once
