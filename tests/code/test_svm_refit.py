"""The serving classifier's SVM, refitted in a background thread: who it is fitted on, the newest registry
winning over ones that waited, and a failed fit costing only the probabilities."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from pipeline.serve.svm_refit import SvmRefitter, fit_registry

ROOT = Path(__file__).resolve().parents[2]


def _people(names: list[str], walks: int, dim: int = 6, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = {n: rng.normal(size=dim) * 3 for n in names}
    labels = [n for n in names for _ in range(walks)]
    return np.stack([centres[n] + rng.normal(size=dim) for n in labels]).astype(np.float32), labels


def test_people_with_one_walk_are_left_out_of_the_fit_not_everyone():
    x, y = _people(["a", "b", "c"], 3)
    lone, lone_y = _people(["z"], 1, seed=1)
    svm = fit_registry(np.vstack([x, lone]), y + lone_y)
    assert sorted(svm.classes.tolist()) == ["a", "b", "c"]
    assert fit_registry(x[:3], y[:3]) is None  # one person: nothing to tell apart
    assert fit_registry(np.vstack([x[:3], lone]), y[:3] + lone_y) is None  # two people, one with a single walk


def test_the_newest_registry_is_fitted_and_answers_read_the_finished_fit():
    refit = SvmRefitter()
    assert refit.current() == (None, -1)
    x2, y2 = _people(["a", "b"], 4)
    x3, y3 = _people(["a", "b", "c"], 4, seed=2)
    refit.want(1, x2, y2)
    refit.want(2, x3, y3)  # enrolled again before the first fit could finish
    assert refit.wait(2, timeout=120)
    svm, generation = refit.current()
    assert generation == 2 and sorted(svm.classes.tolist()) == ["a", "b", "c"]
    probs = svm.predict_proba(x3[:1])[0]
    assert svm.classes[int(np.argmax(probs))] == "a" and refit.error is None


def test_a_failed_fit_costs_the_probabilities_and_the_next_one_runs():
    refit = SvmRefitter()
    x, y = _people(["a", "b"], 4)
    bad = x.copy()
    bad[0, 0] = np.nan  # scikit-learn refuses NaN
    refit.want(1, bad, y)
    assert refit.wait(1, timeout=120)
    assert refit.current() == (None, 1) and "NaN" in refit.error
    refit.want(2, x, y)
    assert refit.wait(2, timeout=120) and refit.current()[0] is not None and refit.error is None


def test_a_process_that_ends_while_a_refit_runs_exits_cleanly(tmp_path):
    # A daemon thread stopped inside scikit-learn's C++ at interpreter exit killed the process with SIGSEGV.
    script = tmp_path / "ends.py"
    script.write_text(
        "import numpy as np\n"
        "from pipeline.serve.svm_refit import SvmRefitter\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.normal(size=(60 * 12, 128)).astype(np.float32)\n"
        "refit = SvmRefitter()\n"
        "refit.want(1, x, [f'p{i}' for i in range(60) for _ in range(12)])\n"
        "import time; time.sleep(1.0)\n"  # scikit-learn imported and fitting (about 4 s) when the process ends
        "print('leaving while it fits')\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "leaving while it fits" in done.stdout  # and the fit ran to its end before the process did
