"""The model directory's validation figures (metrics.json), computed by the driver on the stages' products.

Rank-1 by nearest neighbour is evaluate/protocol.py's `nearest_rank1`, as in the per-epoch validation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.evaluate.protocol import nearest_rank1
from pipeline.ingest.shards import load_clips
from pipeline.models.embedding import embed_clips_shared
from pipeline.models.heatmaps import heatmaps_to_joints, pck
from pipeline.train import data


def _subset(n: int, k: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).permutation(n)[: min(n, k)])


def gait_evaluation(shards: str, classes: list[str], column: str, k: int, seed: int) -> dict[str, np.ndarray]:
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


def pose_pck(pose_net: Any, shards: str, frames_per_clip: int, size: tuple[int, int]) -> dict[str, Any]:
    """PCK@0.2 of the pose network on every validation frame taken for training."""
    frames = data.pose_dataset(shards, data.VAL_SPLITS, frames_per_clip).take_all()
    images = np.stack([r["image"] for r in frames]).astype(np.float32) / 255.0
    joints = np.stack([r["joints"] for r in frames])
    maps = pose_net.predict(images, batch_size=128, verbose=0)["heatmaps"]
    return {"pose_pck@0.2": float(pck(heatmaps_to_joints(maps, size)[..., :2], joints)), "pose_val_frames": len(images)}


def sequence_rank1(embedder: Any, shards: str, column: str) -> dict[str, float]:
    """Held-out sequences of training subjects (val, normal walking) against their training sequences, by
    nearest neighbour on sequence means, as the field's protocols do with a normal-walking gallery; also
    against every training sequence (bags and coats too), and clip against clip."""
    g = load_clips(shards, columns=[column, "subject", "sequence_id", "condition"], splits=["train"])
    p = load_clips(shards, columns=[column, "subject", "sequence_id"], splits=["val"])
    # a sequence's overlapping clips share frames: each goes through the first stage once
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

    pm, ps = means(ep, p, np.ones(len(ep), bool))
    nm = means(eg, g, g["condition"] == "nm")
    every = means(eg, g, np.ones(len(eg), bool))
    return {
        "gait_rank1_sequences": nearest_rank1(pm, ps, *nm),
        "gait_rank1_sequences_all_conditions": nearest_rank1(pm, ps, *every),
        "gait_rank1_clips": nearest_rank1(ep, p["subject"], eg, g["subject"]),
        "gait_val_sequences": len(ps),
    }


def presence_accuracy(presence_net: Any, frames: Any) -> dict[str, Any]:
    """Accuracy of the presence classifier on a materialised dataset of frames and labels."""
    rows = frames.take_all()
    x = np.stack([r["image"] for r in rows]).astype(np.float32) / 255.0
    y = np.array([r["label"] for r in rows])
    pred = presence_net.predict(x, batch_size=128, verbose=0)[:, 0] > 0.5
    return {"presence_accuracy": float(np.mean(pred == (y > 0.5))), "presence_val_frames": len(y)}
