"""The endpoint's open-set threshold is the one `gait evaluate` measured for the model (strangers named at the
target rate), unless a deployment sets one; 0.5 only for a model that was never evaluated.

Here with the model tests, not the serving ones: evaluation's Ray Data actor needs a CPU that the serving tests'
running application holds."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pipeline.common.model_dir import DEFAULT_OPEN_SET_THRESHOLD, ModelInfo
from pipeline.evaluate.run import evaluate
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
