"""Benchmark: training throughput of stage 2 (GaitNN classifier on clips; `--stage pose` for stage 1,
HumanPoseNN on frames) in samples/s: plain `model.fit` in one process against Ray Train with one worker holding
2 CPUs and with two workers of 1 CPU each, plus the project's own loop in one process without Ray Train (what
`workers=0` runs). Same model, same materialised Ray Datasets, same global batch size, same epochs, in one run.

    .venv/bin/python bench/bench_train.py                 # 10 subjects × nm×4 × 3 views × 48 frames, 64×64
    .venv/bin/python bench/bench_train.py --stage pose    # stage 1 on frames instead
    .venv/bin/python bench/bench_train.py --small         # a quick look (5 subjects, 24 frames; under 3 minutes)

Data: synthetic walks preprocessed into 64×64 clips of T=16 frames every 8; the synthetic protocol keeps 60% of
the subjects for training, their nm-01..03 train and nm-04 validates (full: 270 training and 90 validation clips;
--small: 54 and 18). Every side trains the demo preset's GaitNN (with the frozen, untrained HumanPoseNN in front,
as stage 2 trains it) with a global batch of 16 clips (64 frames for stage 1).

Timing leaves out start-up (Ray Train's worker group, TensorFlow's import in the workers, building the model,
the first epoch's graph tracing), without adding anything to the training code. Each side trains 1 + N epochs
and the throughput is N epochs of samples over the time from the end of the first epoch to the end of the last:
- plain `model.fit`: a Keras callback notes when each epoch ends;
- the project's loop in this process: its session notes when each epoch's report (with checkpoint) arrives;
- Ray Train: rank 0's checkpoint of each epoch is named by Ray Train with the time of the report
  (`checkpoint_<date>_<time>.<µs>`); the storage directory is watched during the run, since Ray Train keeps
  only the last two.
As a check (not with --small), every side also runs for 1 epoch alone, and N epochs over the difference of the
two wall times is reported too. An epoch is what training does each epoch: the training steps, the validation
pass, and for the project's loop its checkpoint (rank 0 saves the weights, every rank reports). Samples are those
actually trained on: batches are full (drop_last), and two workers each get half the data.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pipeline  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.preprocess import preprocess
from pipeline.synth import SynthConfig, generate_dataset
from pipeline.train import data
from pipeline.train.config import PRESETS, StageConfig, TrainConfig
from pipeline.train.session import LocalSession

DATA = SynthConfig(
    subjects=10,
    sequences={"nm": 4},
    views=(36, 90, 144),
    frames=48,
    width=64,
    height=64,
    background_frames=0,
)
SMALL = DATA.with_changes(subjects=5, frames=24)
PREPROCESS = PreprocessConfig(width=64, height=64, clip_len=16, stride=8)
BATCH = {"gait": 16, "pose": 64}  # global batch sizes: the demo preset's for stage 2, a smaller one for stage 1
# name → (Ray Train workers, CPUs per worker); 0 workers: the project's loop in this process, no Ray Train.
SIDES = {"plain_fit": (0, 2.0), "local_loop": (0, 2.0), "ray_1x2": (1, 2.0), "ray_2x1": (2, 1.0)}


def train_config(stage: str, epochs: int, workers: int = 0, cpus_per_worker: float = 2.0) -> TrainConfig:
    """The demo preset's model; patience so high that no callback stops or slows a run."""
    stage_cfg = StageConfig(epochs=epochs, batch_size=BATCH[stage], patience=10**6, lr_patience=10**6)
    return replace(
        PRESETS["demo"], workers=workers, cpus_per_worker=cpus_per_worker, max_failures=0, **{stage: stage_cfg}
    )


def stage_inputs(stage: str, shards: str, cfg: TrainConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The materialised train/val Ray Datasets and the spec, as `pipeline.train.run.train` builds them (without
    the per-epoch validation measure, which is not training)."""
    size = [PREPROCESS.width, PREPROCESS.height]
    if stage == "pose":
        datasets = {
            "train": data.pose_dataset(shards, data.TRAIN_SPLITS, cfg.pose_frames_per_clip),
            "val": data.pose_dataset(shards, data.VAL_SPLITS, cfg.pose_frames_per_clip),
        }
        return datasets, {"input_size": size}
    classes = data.label_map(shards)
    datasets = {
        "train": data.gait_dataset(shards, data.TRAIN_SPLITS, classes),
        "val": data.gait_dataset(shards, data.VAL_SPLITS, classes),
    }
    return datasets, {"input_size": size, "num_classes": len(classes), "pose_weights": None}


def samples_per_epoch(rows: int, batch: int, workers: int) -> int:
    """Samples one epoch trains on: each of `workers` gets an equal part, in full batches of batch / workers."""
    w = max(1, workers)
    per_worker = batch // w
    return (rows // w) // per_worker * per_worker * w


# -- the sides ------------------------------------------------------------------------------------------------
def plain_fit(stage: str, cfg: TrainConfig, datasets: dict, spec: dict) -> tuple[float, list[float]]:
    """The baseline: Keras `model.fit` in this process, same model and tf.data pipeline as the workers'.
    Wall time of the fit, and when each epoch ended."""
    import tf_keras as keras

    from pipeline.train.stages import STAGES

    ends: list[float] = []

    class EpochEnds(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            ends.append(time.perf_counter())

    keras.utils.set_random_seed(cfg.seed)
    model, _ = STAGES[stage].build(cfg, spec)
    opt = STAGES[stage].options(cfg)
    train = STAGES[stage].dataset(datasets["train"], opt.batch_size, spec, cfg, shuffle=True)
    val = STAGES[stage].dataset(datasets["val"], opt.batch_size, spec, cfg, shuffle=False)
    t0 = time.perf_counter()
    model.fit(train, validation_data=val, epochs=opt.epochs, callbacks=[EpochEnds()], verbose=0)
    return time.perf_counter() - t0, ends


class TimedSession(LocalSession):
    """The local session of `workers=0`, noting when each report arrives (one per epoch, then the final one)."""

    def __init__(self, datasets: dict[str, Any]) -> None:
        super().__init__(datasets)
        self.times: list[float] = []

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None = None) -> None:
        super().report(metrics, checkpoint_dir)
        self.times.append(time.perf_counter())


def local_loop(stage: str, cfg: TrainConfig, datasets: dict, spec: dict) -> tuple[float, list[float]]:
    """The project's training loop in this process: what `fit_stage` runs for `workers=0`."""
    from pipeline.train.loops import stage_loop

    session = TimedSession(datasets)
    t0 = time.perf_counter()
    stage_loop({"stage": stage, "train": cfg.to_dict(), "spec": spec}, session)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(session._dir, ignore_errors=True)
    return elapsed, session.times[:-1]  # the last report is the final one, after the epochs


class CheckpointWatch:
    """When Ray Train's checkpoints of a run were reported, from the names it gives their directories
    (`checkpoint_<date>_<time>.<µs>`, the time of rank 0's report). A thread lists the run's directory while it
    runs, because Ray Train deletes all but the last two; a name that does not parse counts when first seen."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _scan(self) -> None:
        try:
            names = [e.name for e in os.scandir(self.run_dir) if e.name.startswith("checkpoint_") and e.is_dir()]
        except FileNotFoundError:
            return
        now = time.time()
        for name in names:
            if name not in self.seen:
                try:
                    when = datetime.strptime(name.removeprefix("checkpoint_"), "%Y-%m-%d_%H-%M-%S.%f").timestamp()
                except ValueError:
                    when = now
                self.seen[name] = when

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            self._scan()

    def __enter__(self) -> CheckpointWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._scan()

    def times(self) -> list[float]:
        return sorted(self.seen.values())


def ray_train(stage: str, cfg: TrainConfig, datasets: dict, spec: dict, work: Path, name: str) -> tuple:
    """The project's way on Ray Train: `fit_stage`. Wall time, and when each epoch's checkpoint was reported."""
    from pipeline.train.trainer import fit_stage

    storage = work / "ray-train"
    with CheckpointWatch(storage / name) as watch:
        t0 = time.perf_counter()
        result = fit_stage(stage, cfg, datasets, spec, work / "weights", name=name, storage_path=str(storage))
        elapsed = time.perf_counter() - t0
    epochs = getattr(cfg, stage).epochs
    assert len(result.history) == epochs, f"trained {len(result.history)} epochs, not {epochs}"
    times = watch.times()
    # One checkpoint per epoch, then the final one (the best weights); fewer means some were missed.
    return elapsed, times[:epochs] if len(times) == epochs + 1 else []


def run_side(side: str, stage: str, epochs: int, datasets: dict, spec: dict, work: Path, tag: str) -> tuple:
    workers, cpus = SIDES[side]
    cfg = train_config(stage, epochs, workers, cpus)
    if side == "plain_fit":
        return plain_fit(stage, cfg, datasets, spec)
    if side == "local_loop":
        return local_loop(stage, cfg, datasets, spec)
    return ray_train(stage, cfg, datasets, spec, work, f"{stage}-{side}-{tag}")


# -- the run --------------------------------------------------------------------------------------------------
def summarise(side: str, timed: int, rows: int, batch: int, long: list, short: list) -> dict[str, Any]:
    """Samples/s over the epochs after the first (best repeat), and the wall-time check when it ran."""
    per_epoch = samples_per_epoch(rows, batch, SIDES[side][0])
    runs = [(wall, ends) for wall, ends in long if len(ends) == timed + 1]
    out: dict[str, Any] = {
        "workers": SIDES[side][0],
        "cpus_per_worker": SIDES[side][1],
        "samples_per_epoch": per_epoch,
        f"wall_{timed + 1}_epochs_s": [round(w, 2) for w, _ in long],
    }
    if runs:
        ends = min((e for _, e in runs), key=lambda e: e[-1] - e[0])
        span = ends[-1] - ends[0]
        out["epoch_s"] = [round(b - a, 3) for a, b in itertools.pairwise(ends)]
        out["samples_per_s"] = round(per_epoch * timed / span, 1)
    else:
        out["epoch_s"], out["samples_per_s"] = None, None  # the per-epoch times could not be read
    if short:
        delta = min(w for w, _ in long) - min(w for w, _ in short)
        out["wall_1_epoch_s"] = [round(w, 2) for w, _ in short]
        out["samples_per_s_wall_difference"] = round(per_epoch * timed / delta, 1) if delta > 0 else None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--small", action="store_true", help="5 subjects and 24 frames; 2 epochs timed; no 1-epoch check runs"
    )
    ap.add_argument("--stage", choices=("gait", "pose"), default="gait", help="which stage to train (default: gait)")
    ap.add_argument("--epochs", type=int, help="epochs timed after the first (default: 3; --small: 2)")
    ap.add_argument("--repeats", type=int, default=1, help="run every side this many times, alternating; best kept")
    ap.add_argument("--out", default="bench/results/train.json")
    args = ap.parse_args()
    synth = SMALL if args.small else DATA
    timed = args.epochs or (2 if args.small else 3)
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    import ray

    try:
        from pipeline.common.ray_init import ensure_ray

        ensure_ray()
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 2:
            raise SystemExit(f"bench_train needs 2 Ray CPUs (two workers of 1 CPU), this Ray has {cpus}")
        generate_dataset(synth, work / "synth", progress=False)
        shards = str(work / "shards")
        preprocess(str(work / "synth"), shards, PREPROCESS)
        datasets, spec = stage_inputs(args.stage, shards, train_config(args.stage, 1))
        rows = {k: ds.count() for k, ds in datasets.items()}
        batch = BATCH[args.stage]
        if rows["train"] < 2 * batch or rows["val"] < batch:
            raise SystemExit(f"too little data for a global batch of {batch}: {rows}")

        long: dict[str, list] = {s: [] for s in SIDES}
        short: dict[str, list] = {s: [] for s in SIDES}
        for r in range(args.repeats):
            for side in SIDES:
                long[side].append(run_side(side, args.stage, timed + 1, datasets, spec, work, f"long{r}"))
                print(f"{side}: {timed + 1} epochs in {long[side][-1][0]:.1f} s", flush=True)
                if not args.small:
                    short[side].append(run_side(side, args.stage, 1, datasets, spec, work, f"short{r}"))
                    print(f"{side}: 1 epoch in {short[side][-1][0]:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        ray.shutdown()

    sides = {s: summarise(s, timed, rows["train"], batch, long[s], short[s]) for s in SIDES}

    def ratio(a: str, b: str) -> float | None:
        x, y = sides[a]["samples_per_s"], sides[b]["samples_per_s"]
        return round(x / y, 2) if x and y else None

    unit = "clips" if args.stage == "gait" else "frames"
    model = {k: v for k, v in train_config(args.stage, 1).to_dict().items() if k not in ("pose", "gait", "presence")}
    result = {
        "benchmark": "train",
        "stage": args.stage,
        "small": args.small,
        "data": synth.to_dict(),
        "preprocess_config": PREPROCESS.to_dict(),
        "model": model,
        "global_batch_size": batch,
        "timed_epochs": timed,
        "repeats": args.repeats,
        "rows": rows,
        "unit": unit,
        "machine": f"{platform.machine()}, {cpus} Ray CPUs",
        "sides": sides,
        "ratio_ray_2x1_over_plain": ratio("ray_2x1", "plain_fit"),
        "ratio_ray_1x2_over_plain": ratio("ray_1x2", "plain_fit"),
        "ratio_ray_2x1_over_ray_1x2": ratio("ray_2x1", "ray_1x2"),
        "ratio_local_loop_over_plain": ratio("local_loop", "plain_fit"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    s = {k: v["samples_per_s"] for k, v in sides.items()}
    what = "2 (GaitNN), clips of 16 frames" if args.stage == "gait" else "1 (HumanPoseNN), frames"
    print(
        f"| training throughput, stage {what} 64×64, {rows['train']} {unit}, global batch {batch} "
        f"| `model.fit`, one process: {s['plain_fit']} {unit}/s "
        f"| Ray Train 2 workers × 1 CPU: {s['ray_2x1']} {unit}/s (1 × 2 CPUs: {s['ray_1x2']}; "
        f"the loop without Ray Train: {s['local_loop']}) "
        f"| ×{result['ratio_ray_2x1_over_plain']} (1 × 2: ×{result['ratio_ray_1x2_over_plain']}) | — "
        f"| `.venv/bin/python bench/bench_train.py{' --small' if args.small else ''}` |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
