"""`gait train SHARDS OUT`: stage 1 (HumanPoseNN), stage 2 (GaitNN), the presence classifier → a model directory.

OUT/pose/model.keras        frames → {heatmaps, features}
OUT/gait/model.keras        clips of frames [B, T, H, W, 3] in [0, 1] → L2-normalised identity vectors
OUT/presence/model.keras    frames → probability that a person is present
OUT/config.json             train config, shards, classes, input size, clip length
OUT/metrics.json            validation: pose PCK@0.2, gait rank-1 (sequences and clips), presence accuracy
OUT/history.csv, OUT/curves.png, OUT/version (content hash: everything downstream names it)
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from pipeline.common.atomic import atomic_write_json, swap_in
from pipeline.common.model_dir import (
    CONFIG_FILE,
    CURVES_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    VERSION_FILE,
    directory_version,
    model_file,
    publish,
    remote_version,
)
from pipeline.common.storage import is_remote, join, read_bytes, resolve
from pipeline.ingest.shards import read_meta, shards_identity
from pipeline.train import data, set_stage
from pipeline.train.config import TrainConfig
from pipeline.train.features import clip_features, feature_dataset, feature_extractor
from pipeline.train.metrics import (
    feature_vectors,
    gait_evaluation,
    pose_pck,
    presence_accuracy,
    rank1_metrics,
    sequence_rank1,
)
from pipeline.train.plots import plot_curves
from pipeline.train.stages import STAGES
from pipeline.train.trainer import StageResult, fit_stage

PRESENCE_SPEC = {"input_size": [64, 64]}  # whole frames, resized (data.presence_dataset)


@dataclass
class TrainSummary:
    out: Path | str  # a local directory, or the URI the model was published to
    version: str
    metrics: dict[str, Any]
    seconds: float
    attempts: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        m = self.metrics
        out = [f"model {self.version} → {self.out}  ({self.seconds:.0f} s)"]
        if "pose_pck@0.2" in m:
            out.append(f"  pose: PCK@0.2 {m['pose_pck@0.2']:.3f} on {m['pose_val_frames']} validation frames")
        if "gait_rank1_sequences" in m:
            out.append(
                f"  gait: rank-1 {m['gait_rank1_sequences']:.3f} for {m['gait_val_sequences']} held-out sequences "
                f"of training subjects against their nm sequences (against all their sequences "
                f"{m.get('gait_rank1_sequences_all_conditions', float('nan')):.3f}; clips {m['gait_rank1_clips']:.3f}),"
                f" {m['classes']} subjects"
            )
        if "set_val_rank1" in m:
            out.append(
                f"  set: rank-1 on {m['set_val_people']} validation people (nm-01..04 gallery, across views) "
                f"NM {m.get('set_val_rank1_nm', float('nan')):.3f} BG {m.get('set_val_rank1_bg', float('nan')):.3f} "
                f"CL {m.get('set_val_rank1_cl', float('nan')):.3f} at epoch {m['set_best_epoch']}, "
                f"{m['classes']} training subjects"
            )
        if "presence_accuracy" in m:
            out.append(f"  presence: accuracy {m['presence_accuracy']:.3f} on {m['presence_val_frames']} frames")
        return out


@dataclass
class _Job:
    """One `train` call as the stages' driver code sees it: the shards and what they hold, the config, where
    the model is staged and the checkpoints kept, and the stages' results so far."""

    shards: str
    cfg: TrainConfig
    meta: dict[str, Any]
    classes: list[str]
    staging: Path
    storage_path: str
    crash: dict[str, Any] | None = None  # tests only (faults.py)
    results: dict[str, StageResult] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return (self.meta["config"]["width"], self.meta["config"]["height"])

    @property
    def base_spec(self) -> dict[str, Any]:
        return {"input_size": list(self.size)}

    @property
    def use_pose(self) -> bool:
        return self.cfg.first_stage == "pose"

    @property
    def column(self) -> str:
        return "frames" if self.use_pose else "silhouettes"

    @property
    def frozen(self) -> bool:
        """HumanPoseNN frozen, its features computed once for GaitNN (train/features.py)."""
        return self.use_pose and not self.cfg.finetune_pose and self.cfg.precompute_features

    @property
    def streaming(self) -> bool:
        """Silhouettes streamed, P × K batches, validation on new people: the set stage (train/streaming.py)."""
        return self.cfg.sampler == "pk"

    @property
    def weights_dir(self) -> Path:
        return self.staging / "weights"

    def fit(self, stage: str, datasets: dict[str, Any], spec: dict[str, Any]) -> StageResult:
        crash = self.crash if self.crash and self.crash.get("stage") == stage else None
        self.results[stage] = fit_stage(
            stage,
            self.cfg,
            datasets,
            spec,
            self.weights_dir,
            name=run_name(stage, shards_identity(self.meta), self.cfg),
            storage_path=self.storage_path,
            crash=crash,
        )
        return self.results[stage]

    def product(self, stage: str, spec: dict[str, Any], save_as: str | None = None) -> Any:
        """The stage's product rebuilt here exactly as the workers built it, from its best weights; saved as
        Keras v3 into the model directory's part `save_as` when given."""
        from pipeline.models.io import save_model

        net = STAGES[stage].build(self.cfg, {**spec, "evaluation": None})[1]
        net.load_weights(str(self.results[stage].weights))
        if save_as:
            save_model(net, model_file(self.staging, save_as))
        return net


@dataclass
class _Trained:
    """What the driver keeps of the stages for the figures: the networks and the validation data."""

    pose_net: Any = None
    gait_spec: dict[str, Any] = field(default_factory=dict)
    gait_data: dict[str, Any] = field(default_factory=dict)
    presence_val: Any = None


def run_name(stage: str, shards: str, cfg: TrainConfig) -> str:
    """A stage's Ray Train run: the same shards (`shards_identity`: their inputs and config) and the same
    training config find it again, and resume it where it stopped (docs/training.md)."""
    return f"{stage}-{shards}-{cfg.hash()}"


def discard_checkpoints(storage_path: str, shards: str, cfg: TrainConfig) -> list[str]:
    """Remove this shards' and config's stage runs under `storage_path`; other runs there stay. `--overwrite`
    asks for a new training: without this, every stage would resume from the final checkpoint of the model it
    replaces, and the "new" model would be the old one."""
    fs, root = resolve(storage_path)
    removed = []
    for stage in STAGES:
        path = join(root, run_name(stage, shards, cfg))
        if fs.get_file_info(path).type == pafs.FileType.Directory:
            fs.delete_dir(path)
            removed.append(path)
    return removed


def _prepare(out: str | Path, overwrite: bool, storage_path: str | None) -> tuple[str | Path, bool, Path, str]:
    """(out, whether it is a URI, the staging directory, the checkpoints' storage path). A URI's model is made
    in a local staging directory and published when complete; a local one in a hidden sibling swapped in."""
    if is_remote(out):
        out = os.fspath(out).rstrip("/")
        fs, path = resolve(out)
        if fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)) and not overwrite:
            raise FileExistsError(f"{out} already exists; pass --overwrite to replace it")
        key = hashlib.sha256(out.encode()).hexdigest()[:16]
        staging = Path(tempfile.gettempdir()) / f"gait-train-{key}.partial"  # published to `out` when complete
        return out, True, staging, storage_path or f"{out}.ray-train"
    out = Path(out).absolute()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} already exists; pass --overwrite to replace it")
    return out, False, out.parent / f".{out.name}.partial", storage_path or str(out.parent / f"{out.name}.ray-train")


def _run_stages(job: _Job) -> _Trained:
    """Stage 1 (HumanPoseNN, when the first stage is pose), stage 2 (the set stage, or GaitNN), presence."""
    trained = _Trained()
    if job.use_pose:
        trained.pose_net = _run_pose(job)
    if job.streaming:
        _run_set(job)
    else:
        trained.gait_spec, trained.gait_data = _run_gait(job, trained.pose_net)
    if data.presence_items(job.shards):
        trained.presence_val = _run_presence(job)
    return trained


def _run_pose(job: _Job) -> Any:
    import ray

    cfg = job.cfg
    val_frames = data.pose_dataset(job.shards, data.VAL_SPLITS, cfg.pose_frames_per_clip)
    probe = val_frames.take_batch(min(512, val_frames.count()), batch_format="numpy")
    job.fit(
        "pose",
        {"train": data.pose_dataset(job.shards, data.TRAIN_SPLITS, cfg.pose_frames_per_clip), "val": val_frames},
        {**job.base_spec, "evaluation": ray.put({"image": probe["image"], "joints": probe["joints"]})},
    )
    return job.product("pose", job.base_spec, save_as="pose")


def _run_set(job: _Job) -> None:
    spec = {
        **job.base_spec,
        "num_classes": len(job.classes),
        "steps_per_epoch": set_stage.steps(job.shards, job.cfg),
    }
    job.fit("set", set_stage.datasets(job.shards, job.classes, job.column, job.cfg.seed), spec)


def _run_gait(job: _Job, pose_net: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """GaitNN's run: (its spec, its datasets: of features when stage 1 is frozen)."""
    import ray

    shards, classes, column, cfg = job.shards, job.classes, job.column, job.cfg
    evaluation = gait_evaluation(shards, classes, column, 256, cfg.seed)
    frozen = job.frozen
    gait_data = {
        # Frozen: shuffled after the features, so a batch of features holds a sequence's overlapping clips.
        "train": data.gait_dataset(
            shards,
            data.TRAIN_SPLITS,
            classes,
            column,
            materialize=not frozen,
            shuffle_seed=None if frozen else cfg.seed,
        ),
        "val": data.gait_dataset(shards, data.VAL_SPLITS, classes, column, materialize=not frozen),
    }
    gait_spec = {
        **job.base_spec,
        "num_classes": len(classes),
        # Stage 1's best weights reach stage 2's workers (and feature actors) through the object store, which
        # every node reads: the file they came in (under `staging`) is only on this, the driver's, node.
        "pose_weights": ray.put(job.results["pose"].weights.read_bytes()) if job.use_pose else None,
    }
    if frozen:  # stage 1's features once, as Ray Data batch inference; GaitNN trains on them (train/features.py)
        weights = gait_spec["pose_weights"]
        gait_data = {
            k: feature_dataset(v, cfg, list(job.size), weights, shuffle_seed=cfg.seed if k == "train" else None)
            for k, v in gait_data.items()
        }
        extractor = feature_extractor(pose_net)
        for role in ("gallery", "probe"):
            evaluation[role] = clip_features(extractor, evaluation[role])
        gait_spec["features_shape"] = list(extractor.output_shape[1:])
    job.fit("gait", gait_data, {**gait_spec, "evaluation": ray.put(evaluation)})
    return gait_spec, gait_data


def _run_presence(job: _Job) -> Any:
    """The presence classifier's run; its validation frames, for the figures."""
    per_video = job.cfg.presence_frames_per_video
    val = data.presence_dataset(job.shards, "val", per_video)
    job.fit("presence", {"train": data.presence_dataset(job.shards, "train", per_video), "val": val}, PRESENCE_SPEC)
    return val


def _products_and_metrics(job: _Job, trained: _Trained) -> dict[str, Any]:
    """The products saved into the staging directory (stage 1's already is) and the validation figures."""
    from pipeline.models.gait import build_embedder
    from pipeline.models.io import save_model

    size = job.size
    metrics: dict[str, Any] = {"classes": len(job.classes)}
    if job.use_pose:
        metrics.update(pose_pck(trained.pose_net, job.shards, job.cfg.pose_frames_per_clip, size))
    if job.streaming:  # the embedder of the best epoch on the validation people, saved as gait/
        job.product("set", job.base_spec, save_as="gait")
        metrics.update(set_stage.best_validation(job.results["set"].history, job.shards))
    elif job.frozen:  # the saved embedder is the whole chain: frames → HumanPoseNN features → GaitNN → vector
        gnet = job.product("gait", trained.gait_spec)
        save_model(build_embedder(trained.pose_net, gnet, (size[1], size[0], 3)), model_file(job.staging, "gait"))
        # on the features computed once for training: GaitNN's time only
        eg, g = feature_vectors(gnet, trained.gait_data["train"], job.classes)
        ep, p = feature_vectors(gnet, trained.gait_data["val"], job.classes)
        metrics.update(rank1_metrics(eg, g, ep, p))
    else:
        embedder = job.product("gait", trained.gait_spec, save_as="gait")
        metrics.update(sequence_rank1(embedder, job.shards, job.column))
    if trained.presence_val is not None:
        pnet = job.product("presence", PRESENCE_SPEC, save_as="presence")
        metrics.update(presence_accuracy(pnet, trained.presence_val))
    return metrics


def _write_model_dir(job: _Job, metrics: dict[str, Any]) -> str:
    """history.csv, curves.png, config.json, metrics.json and, last, `version` into the staging directory;
    returns the version."""
    staging, cfg, meta = job.staging, job.cfg, job.meta
    shutil.rmtree(job.weights_dir)
    histories = {s: r.history for s, r in job.results.items()}
    with open(staging / HISTORY_FILE, "w", newline="") as fh:
        keys = sorted({k for h in histories.values() for row in h for k in row})
        writer = csv.DictWriter(fh, fieldnames=["stage", *keys])
        writer.writeheader()
        for stage, rows in histories.items():
            for row in rows:
                writer.writerow({"stage": stage, **row})
    plot_curves(histories, staging / CURVES_FILE)
    metrics["epochs"] = {s: len(h) for s, h in histories.items()}
    metrics["attempts"] = {s: r.attempts for s, r in job.results.items()}
    atomic_write_json(
        staging / CONFIG_FILE,
        {
            "train": cfg.to_dict(),
            "shards": job.shards,
            "shards_config_hash": meta["config_hash"],
            "shards_content_hash": shards_identity(meta),
            "classes": job.classes,
            "input_size": list(job.size),
            "clip_len": meta["config"]["clip_len"],
            "first_stage": cfg.first_stage,
            "column": job.column,
            "preprocess": meta["config"],
        },
    )
    atomic_write_json(staging / METRICS_FILE, metrics)
    version = directory_version(staging)
    (staging / VERSION_FILE).write_text(version + "\n")
    return version


def _put_in_place(staging: Path, out: str | Path, remote: bool) -> None:
    """Publish the complete model to its URI (`version` last), or swap it in for the local `out`."""
    if remote:
        publish(staging, out)
        shutil.rmtree(staging, ignore_errors=True)
    else:
        swap_in(staging, out)


def train(
    shards: str,
    out: str | Path,
    cfg: TrainConfig,
    *,
    overwrite: bool = False,
    fresh: bool = False,
    storage_path: str | None = None,
    crash: dict[str, Any] | None = None,
    ray_address: str | None = None,
) -> TrainSummary:
    """Train every stage on `shards` and write the model directory `out` (swapped in when complete). A stage
    stopped before resumes from its checkpoints, unless `fresh` (the user's `--overwrite`) discards them first.

    `out` may be a URI (`s3://`, `gs://`): the model is then made in a local staging directory and published
    there with its `version` last (pipeline.common.model_dir), and Ray Train's checkpoints default to
    `<out>.ray-train` beside it, where workers on any node can write them and the driver read them back.
    `crash` is for tests only (faults.py)."""
    from pipeline.common.ray_init import ensure_ray

    t0 = time.perf_counter()
    out, remote, staging, storage_path = _prepare(out, overwrite, storage_path)
    ensure_ray(ray_address)
    meta = read_meta(shards)
    if fresh:
        discard_checkpoints(storage_path, shards_identity(meta), cfg)
    classes = data.label_map(shards)
    if len(classes) < 2:
        raise ValueError(f"{shards} has {len(classes)} training subject(s); stage 2 needs at least 2")
    if cfg.first_stage == "pose" and not meta["columns"].get("joints"):
        raise ValueError(f"{shards} has no joints to train HumanPoseNN; use --first-stage silhouette")
    _warn_if_not_shared(storage_path, cfg)
    shutil.rmtree(staging, ignore_errors=True)
    job = _Job(shards, cfg, meta, classes, staging, storage_path, crash)
    metrics = _products_and_metrics(job, _run_stages(job))
    version = _write_model_dir(job, metrics)
    _put_in_place(staging, out, remote)
    return TrainSummary(out, version, metrics, time.perf_counter() - t0, metrics["attempts"])


def _warn_if_not_shared(storage_path: str, cfg: TrainConfig) -> None:
    """Ray Train workers on other nodes write their checkpoints to `storage_path` on their own disks when it is a
    local path, and the driver cannot read them back: fine on one machine or a shared mount (NFS), not otherwise."""
    import ray

    if cfg.workers == 0 or is_remote(storage_path):
        return
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    if nodes > 1:
        warnings.warn(
            f"checkpoints go to the local path {storage_path} on a cluster of {nodes} nodes; unless it is a shared "
            "mount, give a storage path (or an OUT) on s3:// or gs://",
            stacklevel=3,
        )


def _model_json(out: str | Path, name: str) -> Any:
    fs, path = resolve(out)
    return json.loads(read_bytes(fs, join(path, name)))


def read_summary(out: str | Path) -> TrainSummary | None:
    """The summary of a complete model directory, local or at a URI (None if there is none)."""
    if is_remote(out):
        version = remote_version(os.fspath(out))
        if version is None:
            return None
        return TrainSummary(os.fspath(out), version, _model_json(out, METRICS_FILE), 0.0)
    out = Path(out)
    if not (out / VERSION_FILE).is_file():
        return None
    metrics = json.loads((out / METRICS_FILE).read_text())
    return TrainSummary(out, (out / VERSION_FILE).read_text().strip(), metrics, 0.0)


def train_or_reuse(
    shards: str, out: str | Path, cfg: TrainConfig, *, overwrite: bool = False, **train_kwargs: Any
) -> TrainSummary:
    """For jobs that own their workdir: reuse `out` if it was trained with this config on these shards as they
    are (their content: remade from changed inputs, they are other shards)."""
    existing = None if overwrite else reusable_model(shards, out, cfg)
    return existing or train(shards, out, cfg, overwrite=True, **train_kwargs)


def reusable_model(shards: str, out: str | Path, cfg: TrainConfig) -> TrainSummary | None:
    """The summary of `out` if it is complete and was trained with `cfg` on the content `shards` hold now, else
    None; a complete model that is not reusable says why."""
    existing = read_summary(out)
    if existing is None:
        return None
    made = _model_json(out, CONFIG_FILE)
    if made["train"] != cfg.to_dict():
        why = "another training config"
    elif made.get("shards_content_hash") != shards_identity(read_meta(shards)):
        why = f"other shards than {shards} holds now"
    else:
        return existing
    print(f"train: {out} was trained with {why}; training again", flush=True)
    return None
