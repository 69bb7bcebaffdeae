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

import numpy as np
import pyarrow.fs as pafs

import pipeline  # noqa: F401
from pipeline.common.atomic import atomic_write_json, swap_in
from pipeline.common.model_dir import directory_version, publish, remote_version
from pipeline.common.storage import is_remote, join, read_bytes, resolve
from pipeline.ingest.shards import load_clips, read_meta
from pipeline.train import data, set_stage
from pipeline.train.config import TrainConfig
from pipeline.train.plots import plot_curves
from pipeline.train.stages import build_stage_model
from pipeline.train.trainer import StageResult, fit_stage

STAGES = ("pose", "gait", "presence")


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


def _subset(n: int, k: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).permutation(n)[: min(n, k)])


def _gait_eval(shards: str, classes: list[str], column: str, k: int, seed: int) -> dict[str, np.ndarray]:
    """Clips for the per-epoch rank-1: training clips as gallery, held-out (val) clips as probes."""
    index = {s: i for i, s in enumerate(classes)}
    out = {}
    for role, split in (("gallery", "train"), ("probe", "val")):
        c = load_clips(shards, columns=[column, "subject"], splits=[split])
        keep = _subset(len(c["subject"]), k, seed)
        clips = c[column][keep]
        out[role] = clips[..., None] if clips.ndim == 4 else clips
        out[f"{role}_labels"] = np.array([index[s] for s in c["subject"][keep]])
    return out


def sequence_rank1(embedder: Any, shards: str, column: str) -> dict[str, float]:
    """Held-out sequences of training subjects (val, normal walking) against their training sequences, by
    nearest neighbour on sequence means, as the field's protocols do with a normal-walking gallery; also
    against every training sequence (bags and coats too), and clip against clip."""
    g = load_clips(shards, columns=[column, "subject", "sequence_id", "condition"], splits=["train"])
    p = load_clips(shards, columns=[column, "subject", "sequence_id"], splits=["val"])
    from pipeline.identify.embed import embed_clips_shared  # a sequence's overlapping clips share frames

    return rank1_metrics(embed_clips_shared(embedder, g[column]), g, embed_clips_shared(embedder, p[column]), p)


def feature_vectors(gait_net: Any, features: Any, classes: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Vectors of a materialised feature dataset (train/features.py) through GaitNN alone, with each clip's
    subject, sequence and condition: the frozen pose network's features are already computed, so the
    sequence rank-1 costs GaitNN's time only."""
    vecs, meta = [], {"subject": [], "sequence_id": [], "condition": []}
    for batch in features.iter_batches(batch_size=256, batch_format="numpy"):
        vecs.append(gait_net.predict(batch["clip"].astype(np.float32), batch_size=64, verbose=0))  # graph mode
        meta["subject"] += [classes[i] for i in batch["label"]]
        meta["sequence_id"] += list(batch["sequence_id"])
        meta["condition"] += list(batch["condition"])
    return np.concatenate(vecs), {k: np.asarray(v) for k, v in meta.items()}


def rank1_metrics(
    eg: np.ndarray, g: dict[str, np.ndarray], ep: np.ndarray, p: dict[str, np.ndarray]
) -> dict[str, float]:
    """`sequence_rank1`'s figures from gallery (training) and probe (val) clip vectors and their metadata."""

    def means(emb: np.ndarray, c: dict, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = sorted(set(c["sequence_id"][keep]))
        vecs = np.stack([emb[c["sequence_id"] == i].mean(0) for i in ids])
        subj = np.array([c["subject"][c["sequence_id"] == i][0] for i in ids])
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True), subj

    def rank1(gm: np.ndarray, gs: np.ndarray, pm: np.ndarray, ps: np.ndarray) -> float:
        return float(np.mean(gs[((pm[:, None] - gm[None]) ** 2).sum(-1).argmin(1)] == ps))

    pm, ps = means(ep, p, np.ones(len(ep), bool))
    nm = means(eg, g, g["condition"] == "nm")
    every = means(eg, g, np.ones(len(eg), bool))
    return {
        "gait_rank1_sequences": rank1(*nm, pm, ps),
        "gait_rank1_sequences_all_conditions": rank1(*every, pm, ps),
        "gait_rank1_clips": float(
            np.mean(g["subject"][((ep[:, None] - eg[None]) ** 2).sum(-1).argmin(1)] == p["subject"])
        ),
        "gait_val_sequences": len(ps),
    }


def train(
    shards: str,
    out: str | Path,
    cfg: TrainConfig,
    *,
    overwrite: bool = False,
    storage_path: str | None = None,
    crash: dict[str, Any] | None = None,
    ray_address: str | None = None,
) -> TrainSummary:
    """Train every stage on `shards` and write the model directory `out` (swapped in when complete).

    `out` may be a URI (`s3://`, `gs://`): the model is then made in a local staging directory and published
    there with its `version` last (pipeline.common.model_dir), and Ray Train's checkpoints default to
    `<out>.ray-train` beside it, where workers on any node can write them and the driver read them back."""
    import ray

    from pipeline.common.ray_init import ensure_ray
    from pipeline.models.gait import build_embedder
    from pipeline.models.heatmaps import heatmaps_to_joints, pck
    from pipeline.models.io import save_model
    from pipeline.train.features import clip_features, feature_dataset, feature_extractor

    t0 = time.perf_counter()
    remote = is_remote(out)
    if remote:
        out = os.fspath(out).rstrip("/")
        fs, path = resolve(out)
        if fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)) and not overwrite:
            raise FileExistsError(f"{out} already exists; pass --overwrite to replace it")
    else:
        out = Path(out).absolute()
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise FileExistsError(f"{out} already exists; pass --overwrite to replace it")
    ensure_ray(ray_address)
    meta = read_meta(shards)
    size = (meta["config"]["width"], meta["config"]["height"])
    classes = data.label_map(shards)
    if len(classes) < 2:
        raise ValueError(f"{shards} has {len(classes)} training subject(s); stage 2 needs at least 2")
    use_pose = cfg.first_stage == "pose"
    if use_pose and not meta["columns"].get("joints"):
        raise ValueError(f"{shards} has no joints to train HumanPoseNN; use --first-stage silhouette")
    column = "frames" if use_pose else "silhouettes"
    run_key = f"{meta['config_hash']}-{cfg.hash()}"
    if remote:
        storage_path = storage_path or f"{out}.ray-train"
        key = hashlib.sha256(out.encode()).hexdigest()[:16]
        staging = Path(tempfile.gettempdir()) / f"gait-train-{key}.partial"  # published to `out` when complete
    else:
        storage_path = storage_path or str(out.parent / f"{out.name}.ray-train")
        staging = out.parent / f".{out.name}.partial"
    _warn_if_not_shared(storage_path, cfg)
    shutil.rmtree(staging, ignore_errors=True)
    weights_dir = staging / "weights"
    results: dict[str, StageResult] = {}

    def run_stage(stage: str, datasets: dict[str, Any], spec: dict[str, Any]) -> StageResult:
        stage_crash = crash if crash and crash.get("stage") == stage else None
        results[stage] = fit_stage(
            stage,
            cfg,
            datasets,
            spec,
            weights_dir,
            name=f"{stage}-{run_key}",
            storage_path=storage_path,
            crash=stage_crash,
        )
        return results[stage]

    # The products, rebuilt here exactly as the workers built them, from their best weights; saved as Keras v3.
    def product(stage: str, spec: dict[str, Any], save: bool = True) -> Any:
        net = build_stage_model(stage, cfg, {**spec, "evaluation": None})[1]
        net.load_weights(str(results[stage].weights))
        if save:
            save_model(net, staging / stage / "model.keras")
        return net

    base_spec = {"input_size": list(size)}
    pose_net = None
    if use_pose:
        val_frames = data.pose_dataset(shards, data.VAL_SPLITS, cfg.pose_frames_per_clip)
        probe = val_frames.take_batch(min(512, val_frames.count()), batch_format="numpy")
        run_stage(
            "pose",
            {"train": data.pose_dataset(shards, data.TRAIN_SPLITS, cfg.pose_frames_per_clip), "val": val_frames},
            {**base_spec, "evaluation": ray.put({"image": probe["image"], "joints": probe["joints"]})},
        )
        pose_net = product("pose", base_spec)
    frozen = use_pose and not cfg.finetune_pose and cfg.precompute_features
    streaming = cfg.sampler == "pk"
    if streaming:  # silhouettes streamed, P × K batches, validation on new people (train/streaming.py)
        set_spec = {**base_spec, "num_classes": len(classes), "steps_per_epoch": set_stage.steps(shards, cfg)}
        run_stage("set", set_stage.datasets(shards, classes, column, cfg.seed), set_spec)
    else:
        evaluation = _gait_eval(shards, classes, column, 256, cfg.seed)
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
            **base_spec,
            "num_classes": len(classes),
            # Stage 1's best weights reach stage 2's workers (and feature actors) through the object store, which
            # every node reads: the file they came in (under `staging`) is only on this, the driver's, node.
            "pose_weights": ray.put(results["pose"].weights.read_bytes()) if use_pose else None,
        }
        if frozen:  # stage 1's features once, as Ray Data batch inference; GaitNN trains on them (train/features.py)
            weights = gait_spec["pose_weights"]
            gait_data = {
                k: feature_dataset(v, cfg, list(size), weights, shuffle_seed=cfg.seed if k == "train" else None)
                for k, v in gait_data.items()
            }
            extractor = feature_extractor(pose_net)
            for role in ("gallery", "probe"):
                evaluation[role] = clip_features(extractor, evaluation[role])
            gait_spec["features_shape"] = list(extractor.output_shape[1:])
        run_stage("gait", gait_data, {**gait_spec, "evaluation": ray.put(evaluation)})
    presence_ok = bool(data.presence_items(shards))
    if presence_ok:
        pres_val = data.presence_dataset(shards, "val", cfg.presence_frames_per_video)
        run_stage(
            "presence",
            {"train": data.presence_dataset(shards, "train", cfg.presence_frames_per_video), "val": pres_val},
            {"input_size": [64, 64]},
        )

    metrics: dict[str, Any] = {"classes": len(classes)}
    if use_pose:
        frames = data.pose_dataset(shards, data.VAL_SPLITS, cfg.pose_frames_per_clip).take_all()
        images = np.stack([r["image"] for r in frames]).astype(np.float32) / 255.0
        joints = np.stack([r["joints"] for r in frames])
        maps = pose_net.predict(images, batch_size=128, verbose=0)["heatmaps"]
        metrics["pose_pck@0.2"] = float(pck(heatmaps_to_joints(maps, size)[..., :2], joints))
        metrics["pose_val_frames"] = len(images)
    if streaming:  # the embedder of the best epoch on the validation people, saved as gait/
        save_model(product("set", base_spec, save=False), staging / "gait" / "model.keras")
        metrics.update(set_stage.best_validation(results["set"].history, shards))
    elif frozen:  # the saved embedder is the whole chain: frames → HumanPoseNN features → GaitNN → vector
        gnet = product("gait", gait_spec, save=False)
        embedder = build_embedder(pose_net, gnet, (size[1], size[0], 3))
        save_model(embedder, staging / "gait" / "model.keras")
    else:
        embedder = product("gait", gait_spec)
    if streaming:
        pass
    elif frozen:  # on the features computed once for training: GaitNN's time only
        eg, g = feature_vectors(gnet, gait_data["train"], classes)
        ep, p = feature_vectors(gnet, gait_data["val"], classes)
        metrics.update(rank1_metrics(eg, g, ep, p))
    else:
        metrics.update(sequence_rank1(embedder, shards, column))
    if presence_ok:
        pnet = product("presence", {"input_size": [64, 64]})
        rows = pres_val.take_all()
        x = np.stack([r["image"] for r in rows]).astype(np.float32) / 255.0
        y = np.array([r["label"] for r in rows])
        pred = pnet.predict(x, batch_size=128, verbose=0)[:, 0] > 0.5
        metrics["presence_accuracy"] = float(np.mean(pred == (y > 0.5)))
        metrics["presence_val_frames"] = len(y)
    shutil.rmtree(weights_dir)

    histories = {s: r.history for s, r in results.items()}
    with open(staging / "history.csv", "w", newline="") as fh:
        keys = sorted({k for h in histories.values() for row in h for k in row})
        writer = csv.DictWriter(fh, fieldnames=["stage", *keys])
        writer.writeheader()
        for stage, rows in histories.items():
            for row in rows:
                writer.writerow({"stage": stage, **row})
    plot_curves(histories, staging / "curves.png")
    metrics["epochs"] = {s: len(h) for s, h in histories.items()}
    metrics["attempts"] = {s: r.attempts for s, r in results.items()}
    atomic_write_json(
        staging / "config.json",
        {
            "train": cfg.to_dict(),
            "shards": shards,
            "shards_config_hash": meta["config_hash"],
            "classes": classes,
            "input_size": list(size),
            "clip_len": meta["config"]["clip_len"],
            "first_stage": cfg.first_stage,
            "column": column,
            "preprocess": meta["config"],
        },
    )
    atomic_write_json(staging / "metrics.json", metrics)
    version = directory_version(staging)
    (staging / "version").write_text(version + "\n")
    if remote:
        publish(staging, out)
        shutil.rmtree(staging, ignore_errors=True)
    else:
        swap_in(staging, out)
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
        return TrainSummary(os.fspath(out), version, _model_json(out, "metrics.json"), 0.0)
    out = Path(out)
    if not (out / "version").is_file():
        return None
    return TrainSummary(out, (out / "version").read_text().strip(), json.loads((out / "metrics.json").read_text()), 0.0)


def train_or_reuse(
    shards: str, out: str | Path, cfg: TrainConfig, *, overwrite: bool = False, **train_kwargs: Any
) -> TrainSummary:
    """For jobs that own their workdir: reuse `out` if it was trained on these shards with this config."""
    existing = read_summary(out)
    if existing is not None and not overwrite:
        made = _model_json(out, "config.json")
        if made["train"] == cfg.to_dict() and made["shards_config_hash"] == read_meta(shards)["config_hash"]:
            return existing
    return train(shards, out, cfg, overwrite=True, **train_kwargs)
