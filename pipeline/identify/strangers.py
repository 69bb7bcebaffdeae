"""What the endpoint's threshold does against the people enrolled now: the evaluation's strangers, scored again.

`gait evaluate` chooses the threshold on held-out people against a gallery of its own size. A stranger's answer
is their best similarity over every enrolled walk, so the more people and walks are enrolled, the more strangers
reach any threshold: on the demo's model, 1% of strangers named against the evaluation's 72 walks of 12 people
became 22% against the 1,149 walks of 48 people its endpoint enrols. The evaluation keeps its probe sequences'
vectors (`evaluation/strangers.parquet`, people the network never trained on, each walk new); scored against the
registry as it is, each without its own person, they say how often this threshold names a stranger there, and
which threshold would keep the evaluation's target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.identify.embed import unit_rows
from pipeline.identify.svm import threshold_for_far


def rounded_up(threshold: float) -> float:
    """A threshold as the endpoint reports it: 4 decimals, rounded up, so never a stranger more is named."""
    return float(np.ceil(threshold * 1e4) / 1e4)


def stranger_scores(
    cohort: np.ndarray, cohort_people: Sequence[str], enrolled: np.ndarray, names: Sequence[str], block: int = 256
) -> np.ndarray:
    """Per cohort vector: its best cosine similarity to an enrolled vector of another name (-inf when every
    enrolled vector carries its own name). A cohort person enrolled under the same name (the evaluation's own
    people, as the demo enrols them) is left out of their own score, as leave-one-subject-out does. `block`
    cohort rows at a time, so memory is block × enrolled."""
    people = np.asarray(cohort_people).astype(str)
    names_ = np.asarray(names).astype(str)
    e = unit_rows(enrolled).T
    out = np.full(len(people), -np.inf)
    if not len(names_):
        return out
    for lo in range(0, len(people), block):
        rows = slice(lo, lo + block)
        sims = unit_rows(cohort[rows]) @ e
        sims[names_[None, :] == people[rows, None]] = -np.inf
        out[rows] = sims.max(1)
    return out


@dataclass(frozen=True)
class StrangerCheck:
    """The evaluation's strangers against one enrolment: how many are named at a threshold, and which threshold
    names the target share."""

    scores: np.ndarray  # per cohort probe, finite: best similarity to another person's enrolled walk
    target_far: float
    walks: int
    people: int

    @classmethod
    def of(
        cls, cohort: np.ndarray, cohort_people: Sequence[str], enrolled: np.ndarray, names: Sequence[str], far: float
    ) -> StrangerCheck | None:
        """None when no cohort vector has anyone else to be mistaken for (nobody, or only themselves, enrolled)."""
        s = stranger_scores(cohort, cohort_people, enrolled, names)
        s = s[np.isfinite(s)]
        return cls(s, far, len(names), len(set(names))) if len(s) else None

    def named(self, threshold: float) -> float:
        return float(np.mean(self.scores >= threshold))

    def threshold_for_target(self) -> float:
        return rounded_up(threshold_for_far(self.scores, self.target_far))

    def describe(self, threshold: float) -> dict[str, float | int | str]:
        """The answer's `strangers_named`: the estimate at `threshold` and what it rests on."""
        return {
            "estimate": round(self.named(threshold), 4),
            "target": self.target_far,
            "threshold_for_target": self.threshold_for_target(),
            "against": f"{self.walks:,} walks of {self.people:,} people enrolled now",
            "from": f"{len(self.scores):,} held-out probe sequences of gait evaluate",
        }
