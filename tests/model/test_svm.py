"""The linear SVM: stored as plain arrays, and the loaded model predicts exactly what scikit-learn predicts."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from pipeline.identify.svm import UNKNOWN, LinearSvm, fit_sklearn, fit_svm, from_sklearn, threshold_for_far


def clusters(n_classes: int, per_class: int, dim: int = 24, spread: float = 0.6, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    y = np.repeat([f"p{i:02d}" for i in range(n_classes)], per_class)
    x = centres[np.repeat(np.arange(n_classes), per_class)] + spread * rng.normal(size=(n_classes * per_class, dim))
    return x, y, centres


@pytest.mark.parametrize("n_classes", [2, 3, 7])
def test_saved_arrays_predict_exactly_what_sklearn_predicts(n_classes, tmp_path):
    x, y, _ = clusters(n_classes, 6, seed=n_classes)
    reference = fit_sklearn(x, y)
    from_sklearn(reference).save(tmp_path)
    loaded = LinearSvm.load(tmp_path)
    queries = np.random.default_rng(99).normal(size=(200, x.shape[1])) * 1.5
    np.testing.assert_array_equal(loaded.predict(queries), reference.predict(queries))
    np.testing.assert_allclose(loaded.predict_proba(queries), reference.predict_proba(queries), rtol=0, atol=1e-12)
    svc = reference.calibrated_classifiers_[0].estimator
    np.testing.assert_allclose(loaded.decision_function(queries), svc.decision_function(queries), atol=1e-12)
    assert list(loaded.classes) == list(reference.classes_)


def test_files_are_plain_arrays_and_json(tmp_path):
    x, y, _ = clusters(4, 5)
    fit_svm(x, y, target_far=0.05).save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svm.json", "svm.npz"]
    with zipfile.ZipFile(tmp_path / "svm.npz") as z:
        assert sorted(z.namelist()) == ["coef.npy", "intercept.npy", "sigmoid_a.npy", "sigmoid_b.npy"]
    with np.load(tmp_path / "svm.npz", allow_pickle=False) as z:  # no object arrays: nothing to unpickle
        assert all(z[k].dtype == np.float64 for k in z.files)
    meta = json.loads((tmp_path / "svm.json").read_text())
    assert meta["classes"] == ["p00", "p01", "p02", "p03"] and meta["target_far"] == 0.05
    assert 0.0 < meta["threshold"] <= 1.0


def test_open_set_threshold_meets_the_target_far():
    x, y, centres = clusters(6, 8, seed=1)
    rng = np.random.default_rng(5)
    impostors = rng.normal(size=(400, x.shape[1]))  # people who are not enrolled
    model = fit_svm(x, y, impostors=impostors, target_far=0.05)
    accepted = model.predict_open(impostors) != UNKNOWN
    assert accepted.mean() <= 0.05
    # enrolled people's new vectors are mostly still recognised
    fresh = centres[np.repeat(np.arange(6), 10)] + 0.6 * rng.normal(size=(60, x.shape[1]))
    truth = np.repeat([f"p{i:02d}" for i in range(6)], 10)
    assert np.mean(model.predict_open(fresh) == truth) > 0.6
    top = model.identify(impostors[:3], top_k=2)
    assert all(len(t) in (2, 3) for t in top)


def test_threshold_without_impostors_holds_classes_out():
    x, y, _ = clusters(6, 6, seed=2)
    model = fit_svm(x, y, target_far=0.1)
    assert model.info["threshold_from"] == "enrolled classes held out in folds"
    assert model.info["impostor_scores"] == len(x)


def test_threshold_for_far_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    t = threshold_for_far(scores, 0.2)  # 2 of 10 may pass: 0.9 and 0.8; 0.7 must not
    assert 0.7 < t <= 0.8 + 1e-9 and np.mean(scores >= t) == pytest.approx(0.2)
    assert np.mean(scores >= threshold_for_far(scores, 0.0)) == 0.0


def test_too_little_data_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 identities"):
        fit_svm(np.zeros((3, 4)), ["a", "a", "a"])
    with pytest.raises(ValueError, match="at least 2 vectors"):
        fit_svm(np.random.default_rng(0).normal(size=(3, 4)), ["a", "a", "b"])
