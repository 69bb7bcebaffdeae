"""Per-input outcomes: every input ends as written clips or as an error row that names it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import ray


class IngestError(Exception):
    """A bad input: which stage refused it, a type name and a message a person can act on."""

    def __init__(self, stage: str, error_type: str, message: str) -> None:
        super().__init__(message)
        self.stage, self.error_type, self.message = stage, error_type, message


ERRORS_SCHEMA = pa.schema(
    [
        ("sequence_id", pa.string()),
        ("source", pa.string()),
        ("stage", pa.string()),
        ("error_type", pa.string()),
        ("message", pa.string()),
        ("track_id", pa.int32()),  # a person track of the source that was refused (null: the whole input failed)
    ]
)


@dataclass
class Outcome:
    """What became of one sequence."""

    sequence_id: str
    source: str
    clips: int = 0
    frames: int = 0
    padded: int = 0
    stage: str | None = None
    error_type: str | None = None
    message: str | None = None
    warning: str | None = None  # kept, but with a problem worth knowing (e.g. decoding stopped early)
    tracks: list[dict[str, Any]] = field(default_factory=list)  # footage: every person track, kept or dropped

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@ray.remote(num_cpus=0)
class OutcomeLog:
    """Collects outcomes from the Ray Data workers; keyed by sequence, so a retried task never counts twice."""

    def __init__(self) -> None:
        self.outcomes: dict[str, dict[str, Any]] = {}
        self.arrivals: list[str] = []

    def record(self, outcome: dict[str, Any]) -> None:
        self.outcomes[outcome["sequence_id"]] = outcome
        self.arrivals.append(outcome["sequence_id"])

    def since(self, cursor: int) -> tuple[list[dict[str, Any]], int]:
        """Outcomes recorded after the first `cursor` arrivals, and the new cursor (for polling drivers)."""
        return [self.outcomes[s] for s in self.arrivals[cursor:]], len(self.arrivals)

    def all(self) -> dict[str, dict[str, Any]]:
        return self.outcomes
