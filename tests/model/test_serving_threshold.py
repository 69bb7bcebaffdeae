"""The endpoint's open-set threshold is the one `gait evaluate` measured for the model (strangers named at the
target rate), unless a deployment sets one; 0.5 only for a model that was never evaluated. Each answer says how
often that threshold names the evaluation's strangers against the people enrolled now.

Here with the model tests, not the serving ones: evaluation's Ray Data actor needs a CPU that the serving tests'
running application holds."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from pipeline.common.model_dir import DEFAULT_OPEN_SET_THRESHOLD, ModelInfo, write_strangers
from pipeline.evaluate.run import evaluate
from pipeline.identify.strangers import StrangerCheck
from pipeline.serve.deployments import Classifier
from pipeline.serve.registry import Registry


def _at(cos: float, dim: int = 8) -> np.ndarray:
    """A unit vector at cosine `cos` from the first axis."""
    v = np.zeros(dim, np.float32)
    v[0], v[1] = cos, np.sqrt(max(0.0, 1.0 - cos * cos))
    return v


@pytest.fixture(scope="module")
def evaluated(local_model, tiny_shards, tmp_path_factory):
    """A copy of the tiny model with `gait evaluate`'s report where it keeps it (MODEL/evaluation)."""
    model = tmp_path_factory.mktemp("evaluated") / "model"
    shutil.copytree(local_model, model, ignore=shutil.ignore_patterns("evaluation"))
    metrics = evaluate(model, str(tiny_shards), baseline=None)
    return model, metrics["methods"]["network"]["open_set"]


def test_the_classifier_takes_the_measured_threshold(evaluated, local_model, tmp_path):
    model, chosen = evaluated
    url = f"sqlite:///{tmp_path}/r.db"
    never = tmp_path / "never-evaluated"
    shutil.copytree(local_model, never, ignore=shutil.ignore_patterns("evaluation"))
    plain = Classifier(url, str(never))
    assert plain.threshold == DEFAULT_OPEN_SET_THRESHOLD and "no evaluation" in plain.threshold_from
    shutil.copytree(model / "evaluation", never / "evaluation")  # the same version of the model, evaluated since
    plain.reconfigure({"threshold": None, "gallery": ""})
    assert plain.threshold == chosen["threshold"]

    c = Classifier(url, str(model))
    assert c.threshold == chosen["threshold"] and c.threshold_from.startswith("gait evaluate: 1% of strangers named")
    assert chosen["threshold_from"] in c.threshold_from
    c.reconfigure({"threshold": 0.3, "gallery": ""})  # `serve deploy` with a threshold of its own
    assert (c.threshold, c.threshold_from) == (0.3, "set for this deployment")
    c.reconfigure({"threshold": None, "gallery": ""})  # and back to the model's
    assert c.threshold == chosen["threshold"]


def test_answers_follow_the_measured_threshold(evaluated, tmp_path):
    model, chosen = evaluated
    t = chosen["threshold"]
    url = f"sqlite:///{tmp_path}/r.db"
    registry = Registry(url, ModelInfo(model).version)
    registry.enroll("alice", _at(1.0)[None], ["a.mp4"])
    registry.enroll("bob", _at(-1.0)[None], ["b.mp4"])
    c = Classifier(url, str(model))
    under = c.identify(_at(t - 0.02)[None])
    assert under["identity"] == "unknown" and under["candidates"][0]["identity"] == "alice"
    assert under["threshold"] == t and under["threshold_from"] == c.threshold_from
    assert t <= 1.0  # a threshold over 1 would name nobody
    assert c.identify(_at(min(t + 0.01, 1.0))[None])["identity"] == "alice"


def test_answers_say_how_often_strangers_are_named_against_the_people_enrolled_now(evaluated, tmp_path, caplog):
    model, chosen = evaluated
    metrics = json.loads((model / "evaluation" / "metrics.json").read_text())
    vectors, people, far = ModelInfo(model).strangers()
    assert len(vectors) == len(people) == metrics["probe_sequences"] and far == chosen["target_far"]
    t, dim = chosen["threshold"], vectors.shape[1]

    url = f"sqlite:///{tmp_path}/r.db"
    registry = Registry(url, ModelInfo(model).version)
    registry.enroll("alice", _at(1.0, dim)[None], ["a.mp4"])
    c = Classifier(url, str(model))
    said = c.identify(_at(1.0, dim)[None])["strangers_named"]
    want = StrangerCheck.of(vectors, people, _at(1.0, dim)[None], ["alice"], far)
    assert said == want.describe(t) and said["against"] == "1 walks of 1 people enrolled now"

    # Each held-out person enrolled again under another name, with walks like theirs: every stranger is named.
    for person in sorted(set(people)):
        mine = vectors[people == person]
        registry.enroll(f"like-{person}", mine, [f"{person}-{i}.mp4" for i in range(len(mine))])
    with caplog.at_level(logging.WARNING, logger="ray.serve"):
        grown = c.identify(_at(1.0, dim)[None])["strangers_named"]
    assert grown["estimate"] == 1.0 and grown["threshold_for_target"] > t
    assert f"about 100.0% of strangers would be named against the {grown['against']}" in caplog.text
    assert grown["against"] == f"{len(vectors) + 1} walks of {len(set(people)) + 1} people enrolled now"


def test_no_estimate_without_the_strangers_of_this_version_of_the_model(evaluated, tmp_path):
    model, _ = evaluated
    other = tmp_path / "model"
    shutil.copytree(model, other)
    vectors, people, far = ModelInfo(other).strangers()
    write_strangers(other / "evaluation", vectors, people, "another-version", far)  # kept by an older model
    url = f"sqlite:///{tmp_path}/r.db"
    Registry(url, ModelInfo(other).version).enroll("alice", vectors[:1], ["a.mp4"])
    assert ModelInfo(other).strangers() is None
    assert Classifier(url, str(other)).identify(vectors[:1])["strangers_named"] is None
    (other / "evaluation" / "strangers.parquet").write_bytes(b"PAR1 not a parquet file")  # damaged: answers go on
    assert Classifier(url, str(other)).identify(vectors[:1])["strangers_named"] is None
    (other / "evaluation" / "strangers.parquet").unlink()  # evaluated before strangers were kept
    assert Classifier(url, str(other)).identify(vectors[:1])["strangers_named"] is None
