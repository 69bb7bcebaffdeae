"""The serving Classifier answers from the registry as it is now; the SVM's probabilities follow from a fit in
the background, for the people it was fitted on."""

from __future__ import annotations

import numpy as np

from pipeline.common.model_dir import ModelInfo
from pipeline.serve.deployments import Classifier
from pipeline.serve.registry import Registry


def _walks(direction: int, n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = np.zeros((n, dim), np.float32)
    v[:, direction] = 1.0
    return v + 0.1 * rng.normal(size=(n, dim)).astype(np.float32)


def test_answers_use_new_enrolments_at_once_and_svm_probabilities_once_fitted(local_model, tmp_path):
    url = f"sqlite:///{tmp_path}/r.db"
    registry = Registry(url, ModelInfo(local_model).version)
    dim = 8
    registry.enroll("alice", _walks(0, 3, dim, 0), [f"a{i}.mp4" for i in range(3)])
    registry.enroll("bob", _walks(1, 3, dim, 1), [f"b{i}.mp4" for i in range(3)])
    c = Classifier(url, str(local_model), threshold=0.5)
    assert c.identify(_walks(0, 1, dim, 9))["identity"] == "alice"
    assert c.svm.wait(c.generation, timeout=120)
    answer = c.identify(_walks(0, 1, dim, 9))
    probs = {k["identity"]: k["svm_probability"] for k in answer["candidates"]}
    assert probs["alice"] > probs["bob"]

    registry.enroll("carol", _walks(2, 1, dim, 2), ["c0.mp4"])  # one walk: named by similarity, no probability
    answer = c.identify(_walks(2, 1, dim, 8))
    assert answer["identity"] == "carol"  # the new vectors at once, whatever the SVM is doing
    assert c.svm.wait(c.generation, timeout=120)
    answer = c.identify(_walks(2, 1, dim, 8))
    probs = {k["identity"]: k["svm_probability"] for k in answer["candidates"]}
    assert probs["carol"] is None and probs["alice"] is not None and probs["bob"] is not None
