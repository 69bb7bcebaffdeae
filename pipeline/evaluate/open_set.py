"""The endpoint's open-set rule, measured: when does `POST /identify` name someone, and how often a stranger.

The serving Classifier compares a probe's mean vector with every enrolled sequence's mean vector and names the
best match when its cosine similarity reaches a threshold, else answers "unknown". Here the same rule runs on
the held-out people: the gallery sequences are enrolled, each probe sequence is matched against them (its best
similarity and who), and a stranger is simulated by the same probe against the gallery without its own person
(leave-one-subject-out): held-out people whom the network never saw in training, as a stranger at a camera is.

The threshold for a target false-accept rate (strangers named) is chosen on those stranger scores. Chosen and
measured on the same probes, its rate would be the target by construction, so the rates reported are
cross-fitted: the held-out subjects split in two, each half judged with the threshold chosen on the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.evaluate.protocol import Sequences
from pipeline.identify.embed import unit_rows
from pipeline.identify.strangers import rounded_up, stranger_scores
from pipeline.identify.svm import threshold_for_far

OLD_DEFAULT = 0.5  # the endpoint's threshold before it was measured: reported beside the chosen one
RULE = (
    "a probe sequence's mean vector against every enrolled (gallery) sequence's mean vector, any view; named "
    "when the best cosine similarity reaches the threshold (the serving Classifier)"
)


def match_scores(gallery: Sequences, probes: Sequences, block: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per probe: the best similarity to the gallery, whether that best match is the probe's own person, and
    the best similarity with the probe's own person left out of the gallery (how it scores as a stranger).
    `block` probes at a time, so memory is block × gallery whatever the number of probes."""
    g = unit_rows(gallery.vectors).T
    best, right = np.empty(len(probes)), np.empty(len(probes), bool)
    for lo in range(0, len(probes), block):
        rows = slice(lo, lo + block)
        sims = unit_rows(probes.vectors[rows]) @ g  # [block, G]
        best[rows] = sims.max(1)
        right[rows] = gallery.subjects[sims.argmax(1)] == probes.subjects[rows]
    # the rule the serving endpoint scores its registry by (pipeline.identify.strangers)
    stranger = stranger_scores(probes.vectors, probes.subjects, gallery.vectors, gallery.subjects, block)
    return best, right, stranger


def _rates(best: np.ndarray, right: np.ndarray, stranger: np.ndarray, threshold: Any) -> dict[str, float]:
    """Strangers accepted and probes named right at `threshold` (one for all probes, or one per probe)."""
    t = np.broadcast_to(np.asarray(threshold, np.float64), best.shape)
    known = np.isfinite(stranger)  # a probe whose person is the whole gallery has no stranger score
    return {
        "strangers_accepted": float(np.mean(stranger[known] >= t[known])),
        "identified": float(np.mean(right & (best >= t))),
    }


def _curve(best: np.ndarray, right: np.ndarray, stranger: np.ndarray) -> dict[str, list[float]]:
    """The trade-off as the threshold moves: every 0.01, and as finely as the strangers' scores are spread
    (their 0.5% quantiles), so that the low false-accept end is drawn from data, not interpolated."""
    known = stranger[np.isfinite(stranger)]
    grid = np.concatenate([np.linspace(0.0, 1.0, 101), np.quantile(known, np.linspace(0, 1, 201))])
    ts = np.unique(np.round(grid, 4))
    rates = [_rates(best, right, stranger, t) for t in ts]
    return {"threshold": ts.tolist()} | {k: [r[k] for r in rates] for k in ("strangers_accepted", "identified")}


def open_set(gallery: Sequences, probes: Sequences, far: float) -> dict[str, Any]:
    """The rule's threshold for `far` (strangers named) and what it does: strangers accepted and probes named
    right, cross-fitted over two halves of the subjects, and the same at the old fixed threshold."""
    best, right, stranger = match_scores(gallery, probes)
    known = np.isfinite(stranger)
    if not known.any():
        raise ValueError("open set needs at least two enrolled people")
    threshold = threshold_for_far(stranger[known], far)
    out: dict[str, Any] = {
        "rule": RULE,
        "target_far": far,
        "threshold": rounded_up(threshold),
        "threshold_from": f"{int(known.sum())} probe sequences of {len(set(probes.subjects))} held-out people, "
        f"each against a gallery of {len(gallery)} walks of {len(set(gallery.subjects))} people without its own",
        # A stranger's best score is a maximum over the enrolled walks: a larger enrolment names more strangers
        # at the same threshold. The threshold holds for a gallery of about this size.
        "gallery_walks": len(gallery),
        "gallery_people": len(set(gallery.subjects)),
        "identified_closed_set": float(np.mean(right)),
        "at_old_default": {"threshold": OLD_DEFAULT, **_rates(best, right, stranger, OLD_DEFAULT)},
        "curve": _curve(best, right, stranger),
    }
    subjects = np.array(sorted(set(probes.subjects)))
    if len(subjects) >= 4:
        half = np.isin(probes.subjects, subjects[::2])
        per_probe = np.zeros(len(probes))
        for judged in (half, ~half):
            chooser = ~judged & known
            per_probe[judged] = threshold_for_far(stranger[chooser], far)
        out["cross_fitted"] = {"folds": 2, **_rates(best, right, stranger, per_probe)}
        out["cross_fitted"]["identified_per_condition"] = {
            c: float(np.mean((right & (best >= per_probe))[probes.conditions == c]))
            for c in sorted(set(probes.conditions))
        }
    return out
