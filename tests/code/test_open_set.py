"""The endpoint's open-set rule in evaluation: each probe's best match, its score as a stranger, the threshold
for a false-accept rate and the cross-fitted rates, on vectors whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluate.open_set import match_scores, open_set
from pipeline.evaluate.protocol import Sequences


def _seqs(vectors: list[list[float]], subjects: list[str], conditions: list[str] | None = None) -> Sequences:
    n = len(vectors)
    return Sequences(np.array(vectors, float), np.array(subjects), np.array(conditions or ["nm"] * n), [90] * n)


def test_best_match_and_stranger_score_by_hand():
    gallery = _seqs([[1, 0, 0], [0, 1, 0], [0, 0, 1]], ["a", "b", "c"])
    # p1 is a's, nearest a (cos 0.8), then b (0.6); p2 is b's but nearer c (0.8 > 0.6)
    probes = _seqs([[0.8, 0.6, 0], [0, 0.6, 0.8]], ["a", "b"])
    best, right, stranger = match_scores(gallery, probes)
    np.testing.assert_allclose(best, [0.8, 0.8])
    assert right.tolist() == [True, False]
    np.testing.assert_allclose(stranger, [0.6, 0.8])  # without their own person in the gallery


def test_blocks_of_probes_give_the_same_scores():
    gallery, probes = _people(7, 5, noise=0.5)
    whole = match_scores(gallery, probes)
    for got, want in zip(match_scores(gallery, probes, block=4), whole, strict=True):
        np.testing.assert_array_equal(got, want)


def test_vectors_are_compared_on_the_unit_sphere():
    gallery = _seqs([[10, 0], [0, 3]], ["a", "b"])
    best, _, stranger = match_scores(gallery, _seqs([[2, 2]], ["a"]))
    np.testing.assert_allclose([best[0], stranger[0]], [np.sqrt(0.5), np.sqrt(0.5)])


def _people(n_people: int, probes_each: int, noise: float, seed: int = 0) -> tuple[Sequences, Sequences]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, 16))
    names = [f"{i:03d}" for i in range(n_people)]
    gallery = _seqs(centres + noise * rng.normal(size=centres.shape), names)
    rows = np.repeat(np.arange(n_people), probes_each)
    conditions = [("nm", "bg")[i % 2] for i in range(len(rows))]
    probes = _seqs(centres[rows] + noise * rng.normal(size=(len(rows), 16)), [names[i] for i in rows], conditions)
    return gallery, probes


def test_threshold_meets_the_target_on_strangers_and_the_rates_are_cross_fitted():
    gallery, probes = _people(20, 10, noise=0.6)
    far = 0.05
    out = open_set(gallery, probes, far)
    _, _, stranger = match_scores(gallery, probes)
    assert np.mean(stranger >= out["threshold"]) <= far  # chosen on the strangers
    assert np.mean(stranger >= out["threshold"] - 0.05) > far  # and not needlessly high
    cf = out["cross_fitted"]
    assert cf["folds"] == 2 and 0.0 <= cf["strangers_accepted"] <= 0.2
    assert 0.0 < cf["identified"] <= out["identified_closed_set"]
    assert set(cf["identified_per_condition"]) == {"nm", "bg"}
    # the old fixed 0.5 names far more strangers on these vectors
    assert out["at_old_default"]["strangers_accepted"] > cf["strangers_accepted"]
    curve = out["curve"]
    assert len(curve["threshold"]) == len(curve["identified"]) == len(curve["strangers_accepted"]) >= 101
    assert curve["threshold"] == sorted(curve["threshold"])
    assert curve["strangers_accepted"] == sorted(curve["strangers_accepted"], reverse=True)  # higher: fewer named
    assert curve["identified"][0] == pytest.approx(out["identified_closed_set"])  # threshold 0: everyone named


def test_too_few_people():
    with pytest.raises(ValueError, match="two enrolled people"):
        open_set(_seqs([[1, 0]], ["a"]), _seqs([[1, 0]], ["a"]), 0.01)
    out = open_set(*_people(3, 4, noise=0.3), 0.01)  # under 4 people: no halves to cross-fit
    assert "cross_fitted" not in out and 0.0 <= out["threshold"] <= 1.0
