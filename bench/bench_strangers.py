"""Benchmark: what a classifier replica's reload costs an answer: the SVM refit, and scoring the strangers.

    .venv/bin/python bench/bench_strangers.py [--people 100 400] [--walks 24] [--cohorts 216 3300] [--dim 384]
        [--model runs/demo/model]

A replica reloads when the registry's generation moves (an enrolment, a deletion): it reads the vectors, refits
the linear SVM (pipeline.identify.svm.fit_sklearn) and, since the stranger estimate, scores the evaluation's probe
vectors against every enrolled walk (pipeline.identify.strangers.StrangerCheck). Both are timed here, side by side
on the same registry of random unit vectors (`--walks` per person, the demo's 24; `--dim` the demo model's 384),
for cohorts of the demo's size (216 probes) and of CASIA-B's (3,300: 50 held-out people × 66 probe walks). The
ratio is the check's time over the refit's. The refit used to run before the first answer after an enrolment; it
now runs in a thread (pipeline.serve.svm_refit.SvmRefitter): `answer_wait_s` is what that answer waits now
(handing the fit to the thread, plus the strangers' check), against `refit_s`. Results:
bench/results/strangers.json.

With `--model` (a model directory whose embedding has `--dim` dimensions, e.g. the demo's after `make demo`), the
serving Classifier itself is timed on a registry of the largest `--people`: its answers with no fit running, the
first answer after an enrolment, and answers while that enrolment's refit runs beside them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.identify.strangers import StrangerCheck  # noqa: E402
from pipeline.identify.svm import fit_sklearn  # noqa: E402
from pipeline.serve.svm_refit import SvmRefitter  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, nargs="+", default=[100, 400])
    ap.add_argument("--walks", type=int, default=24)
    ap.add_argument("--cohorts", type=int, nargs="+", default=[216, 3300])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--model", help="also time the serving Classifier on this model directory")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "strangers.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for people in args.people:
        centres = rng.normal(size=(people, args.dim))
        walks = np.repeat(centres, args.walks, axis=0) + rng.normal(scale=0.8, size=(people * args.walks, args.dim))
        walks = (walks / np.linalg.norm(walks, axis=1, keepdims=True)).astype(np.float32)
        names = np.repeat([f"p{i}" for i in range(people)], args.walks)
        t0 = time.perf_counter()
        fit_sklearn(walks.astype(np.float64), names)
        refit = time.perf_counter() - t0
        refitter = SvmRefitter()
        t0 = time.perf_counter()
        refitter.want(1, walks, list(names))  # what an answer after an enrolment does now
        handed = time.perf_counter() - t0
        assert refitter.wait(1, timeout=3600)
        print(f"{people} people, {len(walks):,} walks: SVM refit {refit:.2f} s, handed to a thread in {handed:.4f} s")
        for n in args.cohorts:
            cohort = rng.normal(size=(n, args.dim)).astype(np.float32)
            t0 = time.perf_counter()
            check = StrangerCheck.of(
                cohort, np.repeat([f"s{i}" for i in range(n // 20 + 1)], 20)[:n], walks, names, 0.01
            )
            seconds = time.perf_counter() - t0
            assert check is not None and len(check.scores) == n
            rows.append(
                {
                    "people": people,
                    "walks": len(walks),
                    "cohort": n,
                    "refit_s": refit,
                    "check_s": seconds,
                    "ratio": seconds / refit,
                    "answer_wait_s": handed + seconds,
                }
            )
            print(
                f"  cohort {n:,}: strangers scored in {seconds:.3f} s, ×{seconds / refit:.3f} of the refit", flush=True
            )
    result = {"host": platform.machine(), "dim": args.dim, "walks_per_person": args.walks, "rows": rows}
    if args.model:
        result["classifier"] = classifier_latency(args.model, max(args.people), args.walks, args.dim)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    worst, big = max(rows, key=lambda r: r["ratio"]), max(rows, key=lambda r: (r["walks"], r["cohort"]))
    print(
        f"an answer after an enrolment of {big['people']} people waits {big['answer_wait_s']:.2f} s, not the SVM "
        f"refit's {big['refit_s']:.1f} s (×{big['answer_wait_s'] / big['refit_s']:.4f}); the strangers' check is at "
        f"most ×{worst['ratio']:.3f} of the refit ({worst['check_s']:.2f} s against {worst['refit_s']:.2f} s: "
        f"{worst['walks']:,} walks, cohort {worst['cohort']:,})"
    )


def classifier_latency(model: str, people: int, walks: int, dim: int, answers: int = 30) -> dict[str, float]:
    """Milliseconds per `Classifier.identify` (median, max) with no fit running and while an enrolment's refit
    runs; and the first answer after that enrolment (the reload, the hand-over, the strangers' check)."""
    import tempfile

    from pipeline.common.model_dir import ModelInfo
    from pipeline.serve.deployments import Classifier
    from pipeline.serve.registry import Registry

    rng = np.random.default_rng(0)
    url = f"sqlite:///{tempfile.mkdtemp(prefix='bench-strangers-')}/registry.db"
    registry = Registry(url, ModelInfo(model).version)
    for i in range(people):
        w = rng.normal(size=dim) + 0.8 * rng.normal(size=(walks, dim))
        registry.enroll(
            f"p{i}",
            (w / np.linalg.norm(w, axis=1, keepdims=True)).astype(np.float32),
            [f"{i}-{k}.mp4" for k in range(walks)],
        )
    c = Classifier(url, model)
    probe = rng.normal(size=(3, dim)).astype(np.float32)
    c.identify(probe)
    assert c.svm.wait(c.generation, timeout=3600)

    def timed() -> list[float]:
        out = []
        for _ in range(answers):
            t0 = time.perf_counter()
            c.identify(probe)
            out.append(1e3 * (time.perf_counter() - t0))
        return out

    idle = timed()
    registry.enroll("new", rng.normal(size=(2, dim)).astype(np.float32), ["n0.mp4", "n1.mp4"])
    t0 = time.perf_counter()
    c.identify(probe)
    first = 1e3 * (time.perf_counter() - t0)
    during = timed()
    fitting = c.svm.current()[1] < c.generation  # the refit still ran when the timing ended
    print(
        f"Classifier, {people} people: answers {np.median(idle):.1f} ms (max {max(idle):.1f}) with no fit running, "
        f"{np.median(during):.1f} ms (max {max(during):.1f}) during a refit; the first after an enrolment "
        f"{first:.0f} ms"
    )
    return {
        "idle_ms_median": float(np.median(idle)),
        "idle_ms_max": max(idle),
        "during_refit_ms_median": float(np.median(during)),
        "during_refit_ms_max": max(during),
        "first_after_enrolment_ms": first,
        "refit_still_running_after": fitting,
    }


if __name__ == "__main__":
    main()
