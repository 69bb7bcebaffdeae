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


# -- person tracks of footage: what `gait preprocess` and `gait index` both report ---------------------------
def input_tracks(input_id: str, source: str, outcome: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per person track an input's footage gave (kept, too short, of low quality or not chosen), with
    the input it came from: the rows of tracks.parquet."""
    return [{"input_id": input_id, "source": source, **t} for t in outcome.get("tracks") or []]


def track_errors(tracks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Error rows for the tracks refused for their quality: each names its source, its track and why."""
    return [
        {
            "sequence_id": t["sequence_id"],
            "source": t["source"],
            "stage": "quality",
            "error_type": "LowQualityTrack",
            "message": f"track {t['track_id']} (frames {t['first_frame']}–{t['last_frame']}): {t['reason']}",
            "track_id": t["track_id"],
        }
        for t in tracks
        if t["dropped"] == "low_quality"
    ]


def track_counts(tracks: list[dict[str, Any]]) -> dict[str, int]:
    """Person tracks found, kept, and dropped by reason; empty when no input was footage."""
    counts = {"found": len(tracks), "kept": 0, "short": 0, "low_quality": 0, "not_chosen": 0}
    for t in tracks:
        counts[t["dropped"] or "kept"] += 1
    return counts if tracks else {}


def error_lines(errors: list[dict[str, Any]], shown: int = 10) -> list[str]:
    """A summary's lines for its error rows: an input that failed, or one person track of an input that was
    written but refused (`track_id` set), so that the counts above them read right."""
    out = []
    for e in errors[:shown]:
        what = "failed" if e.get("track_id") is None else "dropped"
        out.append(f"  {what}: {e['source']}: [{e['stage']}] {e['error_type']}: {e['message']}")
    if len(errors) > shown:
        out.append(f"  … and {len(errors) - shown} more in errors.parquet")
    return out
