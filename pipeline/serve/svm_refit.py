"""The classifier replica's linear SVM, refitted in a thread of its own so that no answer waits for it.

Each enrolment or deletion moves the registry's generation, and the SVM over every enrolled walk has to be fitted
again. That fit grows faster than the registry: 6 s for 100 people and about 2 minutes for 400 (24 walks each, 384-d;
bench/bench_strangers.py), and a replica that fitted it before answering kept every request after an enrolment
waiting that long. The names and the nearest-neighbour similarities, which decide the answer, come from the new
vectors at once; the SVM's probabilities come from the newest fit that has finished, for the people it knew.
Fits never queue up: while one runs, only the newest registry waits for the next.
"""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np

from pipeline.identify.svm import LinearSvm, fit_sklearn, from_sklearn


def fit_registry(vectors: np.ndarray, names: list[str]) -> LinearSvm | None:
    """The calibrated SVM over the people with two or more walks (the calibration's folds); None with fewer than
    two such people. Someone enrolled with one walk gets no probability, and costs nobody else theirs."""
    counts = Counter(names)
    keep = np.array([counts[n] >= 2 for n in names], bool)
    if len({n for n, k in counts.items() if k >= 2}) < 2:
        return None
    return from_sklearn(fit_sklearn(np.asarray(vectors, np.float64)[keep], np.asarray(names)[keep]))


class SvmRefitter:
    """Fits the SVM of the newest registry generation in a background thread; `current` is the latest finished."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wanted: tuple[int, np.ndarray, list[str]] | None = None
        self._busy = False
        self._done = threading.Condition(self._lock)
        self.svm: LinearSvm | None = None
        self.generation = -1  # the registry generation `svm` was fitted on
        self.error: str | None = None

    def want(self, generation: int, vectors: np.ndarray, names: list[str]) -> None:
        """Fit for this generation as soon as the thread is free (a newer call replaces one still waiting)."""
        with self._lock:
            self._wanted = (generation, vectors, list(names))
            if not self._busy:
                self._busy = True
                # Not a daemon: a daemon thread stopped inside scikit-learn's C++ at interpreter exit crashes the
                # process (SIGSEGV); exit waits for the fit that is running instead.
                threading.Thread(target=self._run, name="svm-refit", daemon=False).start()

    def _run(self) -> None:
        while True:
            with self._lock:
                job, self._wanted = self._wanted, None
                if job is None:
                    self._busy = False
                    self._done.notify_all()
                    return
            generation, vectors, names = job
            try:
                svm, error = fit_registry(vectors, names), None
            except Exception as exc:  # a failed fit costs the probabilities, never the answers
                svm, error = None, f"{type(exc).__name__}: {exc}"
            with self._lock:
                self.svm, self.generation, self.error = svm, generation, error
                self._done.notify_all()

    def current(self) -> tuple[LinearSvm | None, int]:
        with self._lock:
            return self.svm, self.generation

    def wait(self, generation: int, timeout: float) -> bool:
        """Until the fit of `generation` (or a newer one) has finished; False on timeout."""
        with self._lock:
            return self._done.wait_for(lambda: self.generation >= generation, timeout)
