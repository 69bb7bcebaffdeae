"""The linear SVM over identification vectors, stored as plain arrays (npz + JSON), never as a pickle.

Fitting is scikit-learn's: `LinearSVC` (one-vs-rest) wrapped in `CalibratedClassifierCV(method="sigmoid",
ensemble=False)`, so the SVM is fitted once on every vector and Platt's sigmoid per class is fitted on
cross-validated decision values. What is saved is exactly what prediction needs: `coef`, `intercept`, the
classes, the sigmoid slopes and offsets, and the open-set threshold. `LinearSvm.predict_proba` repeats
scikit-learn's arithmetic, so a loaded model predicts what scikit-learn predicts (tested).

Open set: "unknown" when the best calibrated probability is under a threshold chosen on impostor data (people
not enrolled) for a target false-accept rate. Without impostor data the threshold comes from the enrolled
people themselves: classes are held out in folds, an SVM is fitted on the rest and the held-out vectors'
best scores are the impostor scores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from pipeline.common.atomic import atomic_write_bytes, atomic_write_json

UNKNOWN = "unknown"
FORMAT = "gait-linear-svm/1"


@dataclass
class LinearSvm:
    coef: np.ndarray  # [C', D] (C' = 1 for two classes, as scikit-learn keeps it)
    intercept: np.ndarray  # [C']
    classes: np.ndarray  # [C] str
    sigmoid_a: np.ndarray  # [C'] Platt slope per decision column
    sigmoid_b: np.ndarray  # [C'] Platt offset
    threshold: float = 0.0  # best probability under this → unknown
    target_far: float | None = None
    info: dict[str, Any] | None = None

    # -- prediction -----------------------------------------------------------------------------------------
    def decision_function(self, x: np.ndarray) -> np.ndarray:
        d = np.asarray(x, dtype=np.float64) @ self.coef.T.astype(np.float64) + self.intercept
        return d[:, 0] if d.shape[1] == 1 else d

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        d = self.decision_function(x)
        d = d.reshape(-1, 1) if d.ndim == 1 else d
        n = len(self.classes)
        proba = np.zeros((len(d), n))
        for k in range(d.shape[1]):
            proba[:, k + 1 if n == 2 else k] = expit(-(self.sigmoid_a[k] * d[:, k] + self.sigmoid_b[k]))
        if n == 2:
            proba[:, 0] = 1.0 - proba[:, 1]
        else:
            den = proba.sum(1, keepdims=True)
            proba = np.divide(proba, den, out=np.full_like(proba, 1.0 / n), where=den != 0)
        proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Closed set: the most probable enrolled class."""
        return self.classes[self.predict_proba(x).argmax(1)]

    def identify(self, x: np.ndarray, top_k: int = 1) -> list[list[tuple[str, float]]]:
        """Open set: per vector, the top-k (class, probability); the answer is UNKNOWN when the best is under
        the threshold (the candidates are still listed after it)."""
        proba = self.predict_proba(x)
        out = []
        for row in proba:
            order = np.argsort(-row, kind="stable")[:top_k]
            cands = [(str(self.classes[i]), float(row[i])) for i in order]
            out.append(cands if cands[0][1] >= self.threshold else [(UNKNOWN, cands[0][1]), *cands])
        return out

    def predict_open(self, x: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(x)
        best = proba.argmax(1)
        labels = self.classes[best].astype(object)
        labels[proba[np.arange(len(best)), best] < self.threshold] = UNKNOWN
        return labels

    # -- storage --------------------------------------------------------------------------------------------
    def save(self, out: str | Path) -> Path:
        """`out/svm.npz` (arrays) and `out/svm.json` (classes, threshold, provenance), each written atomically."""
        import io

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, coef=self.coef, intercept=self.intercept, sigmoid_a=self.sigmoid_a, sigmoid_b=self.sigmoid_b)
        atomic_write_bytes(out / "svm.npz", buf.getvalue())
        atomic_write_json(
            out / "svm.json",
            {
                "format": FORMAT,
                "classes": [str(c) for c in self.classes],
                "threshold": self.threshold,
                "target_far": self.target_far,
                "calibration": "sigmoid (Platt) per class, scikit-learn CalibratedClassifierCV(ensemble=False)",
                "info": self.info or {},
            },
        )
        return out

    @classmethod
    def load(cls, path: str | Path) -> LinearSvm:
        path = Path(path)
        meta = json.loads((path / "svm.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}/svm.json is not a {FORMAT} model (format {meta.get('format')!r})")
        with np.load(path / "svm.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("coef", "intercept", "sigmoid_a", "sigmoid_b")}
        return cls(
            classes=np.array(meta["classes"], dtype=str),
            threshold=float(meta["threshold"]),
            target_far=meta.get("target_far"),
            info=meta.get("info"),
            **arrays,
        )


def fit_sklearn(x: np.ndarray, y: np.ndarray, c: float = 1.0, seed: int = 0) -> Any:
    """scikit-learn's calibrated linear SVM. Every class needs at least two vectors (for the calibration's folds)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    y = np.asarray(y).astype(str)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"the SVM needs at least 2 identities, not {len(classes)}")
    if counts.min() < 2:
        few = [str(k) for k, n in zip(classes, counts, strict=True) if n < 2]
        raise ValueError(f"every identity needs at least 2 vectors (clips) to calibrate; too few: {few[:5]}")
    folds = int(min(3, counts.min()))
    svc = LinearSVC(C=c, dual="auto", max_iter=20000, random_state=seed)
    return CalibratedClassifierCV(svc, method="sigmoid", cv=folds, ensemble=False).fit(x, y)


def from_sklearn(model: Any) -> LinearSvm:
    """The arrays of a fitted CalibratedClassifierCV(LinearSVC, sigmoid, ensemble=False)."""
    if len(model.calibrated_classifiers_) != 1:
        raise ValueError("only ensemble=False calibration (one SVM) can be exported")
    cc = model.calibrated_classifiers_[0]
    svc = cc.estimator
    return LinearSvm(
        coef=np.asarray(svc.coef_, dtype=np.float64),
        intercept=np.asarray(svc.intercept_, dtype=np.float64),
        classes=np.asarray(model.classes_).astype(str),
        sigmoid_a=np.array([c.a_ for c in cc.calibrators], dtype=np.float64),
        sigmoid_b=np.array([c.b_ for c in cc.calibrators], dtype=np.float64),
    )


def threshold_for_far(impostor_scores: np.ndarray, far: float) -> float:
    """The lowest threshold at which at most `far` of the impostor scores are accepted (score ≥ threshold)."""
    s = np.sort(np.asarray(impostor_scores, dtype=np.float64))[::-1]
    if not len(s):
        raise ValueError("no impostor scores to choose a threshold from")
    allowed = int(np.floor(far * len(s)))  # impostors that may be accepted
    if allowed >= len(s):
        return float(s[-1])
    return float(np.nextafter(s[allowed], np.inf))  # just above the first impostor that must be refused


def held_out_impostor_scores(x: np.ndarray, y: np.ndarray, folds: int = 4, c: float = 1.0, seed: int = 0) -> np.ndarray:
    """Best scores of enrolled people's vectors against SVMs that never saw them (classes held out in folds)."""
    y = np.asarray(y).astype(str)
    classes = np.unique(y)
    if len(classes) < 3:
        raise ValueError("choosing a threshold without impostor data needs at least 3 identities")
    order = np.random.default_rng(seed).permutation(classes)
    scores = []
    for part in np.array_split(order, min(folds, len(classes))):
        held = np.isin(y, part)
        if len(np.unique(y[~held])) < 2:
            continue
        model = from_sklearn(fit_sklearn(x[~held], y[~held], c, seed))
        scores.append(model.predict_proba(x[held]).max(1))
    return np.concatenate(scores)


def fit_svm(
    x: np.ndarray,
    y: np.ndarray,
    *,
    impostors: np.ndarray | None = None,
    target_far: float = 0.01,
    c: float = 1.0,
    seed: int = 0,
) -> LinearSvm:
    """Fit the SVM on enrolled vectors and choose its open-set threshold for `target_far`."""
    x = np.asarray(x, dtype=np.float64)
    model = from_sklearn(fit_sklearn(x, y, c, seed))
    if impostors is not None and len(impostors):
        scores, source = model.predict_proba(np.asarray(impostors, np.float64)).max(1), "impostor vectors"
    else:
        scores, source = held_out_impostor_scores(x, y, c=c, seed=seed), "enrolled classes held out in folds"
    model.threshold = threshold_for_far(scores, target_far)
    model.target_far = target_far
    model.info = {
        "vectors": len(x),
        "dimension": int(x.shape[1]),
        "C": c,
        "threshold_from": source,
        "impostor_scores": len(scores),
    }
    return model
