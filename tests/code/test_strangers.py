"""The evaluation's strangers scored against an enrolment: each without its own name, the share named at a
threshold and the threshold for the target, on vectors whose answers are known by hand."""

from __future__ import annotations

import numpy as np

from pipeline.identify.strangers import StrangerCheck, stranger_scores


def _at(cos: float) -> list[float]:
    return [cos, float(np.sqrt(1 - cos * cos)), 0.0]


def test_each_stranger_is_scored_without_their_own_name_by_hand():
    cohort = np.array([_at(1.0), _at(0.6)])  # "a" at the first axis, "z" (never enrolled) at 0.6 from it
    enrolled = np.array([_at(1.0), _at(0.8), [0, 0, 1.0]])
    names = ["a", "b", "c"]
    # "a" is enrolled under its own name: left out, so its best is b (0.8); "z" is nearest b: cos(0.8 vs 0.6)
    want_z = float(np.dot(_at(0.6), _at(0.8)))
    np.testing.assert_allclose(stranger_scores(cohort, ["a", "z"], enrolled, names), [0.8, want_z], rtol=1e-6)
    # only themselves enrolled: nobody to be mistaken for
    assert stranger_scores(cohort[:1], ["a"], enrolled[:1], ["a"]).tolist() == [-np.inf]
    assert StrangerCheck.of(cohort[:1], ["a"], enrolled[:1], ["a"], 0.01) is None
    assert StrangerCheck.of(cohort, ["a", "z"], enrolled[:0], [], 0.01) is None


def test_blocks_of_the_cohort_give_the_same_scores():
    rng = np.random.default_rng(0)
    cohort, enrolled = rng.normal(size=(37, 8)), rng.normal(size=(50, 8))
    people, names = rng.choice(list("abcdef"), 37), rng.choice(list("abcdefgh"), 50)
    whole = stranger_scores(cohort, people, enrolled, names)
    np.testing.assert_allclose(stranger_scores(cohort, people, enrolled, names, block=5), whole)


def test_more_people_enrolled_name_more_strangers_and_the_target_threshold_keeps_the_rate():
    rng = np.random.default_rng(1)
    cohort = rng.normal(size=(400, 16))
    people = np.repeat([f"s{i}" for i in range(20)], 20)
    few, many = rng.normal(size=(10, 16)), rng.normal(size=(1000, 16))
    small = StrangerCheck.of(cohort, people, few, [f"p{i}" for i in range(10)], far=0.01)
    large = StrangerCheck.of(cohort, people, many, [f"p{i % 100}" for i in range(1000)], far=0.01)
    t = small.threshold_for_target()
    assert small.named(t) <= 0.01 < large.named(t)  # the small enrolment's threshold names more in the large one
    assert large.threshold_for_target() > t and large.named(large.threshold_for_target()) <= 0.01
    said = large.describe(t)
    assert said["estimate"] == round(large.named(t), 4) and said["threshold_for_target"] == large.threshold_for_target()
    assert said["against"] == "1,000 walks of 100 people enrolled now" and said["from"].startswith("400 held-out")
