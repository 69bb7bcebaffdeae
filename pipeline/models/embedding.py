"""Clips → identification vectors with an embedder, each distinct frame through the first stage once.

Shared by training (its validation figures, stage 1's precomputed features) and identification (indexing,
evaluation, serving), so that neither imports the other for them. No TensorFlow at import.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def set_threads(threads: int) -> None:
    """TensorFlow's thread pools, before the first op runs: an actor that holds n CPUs should use n threads."""
    import tensorflow as tf

    if threads > 0:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(max(1, threads))
        except RuntimeError:  # already initialised in this process: keep what it has
            pass


def embed_clips(embedder: Any, clips: np.ndarray, batch: int = 32) -> np.ndarray:
    """uint8 clips [N, T, H, W(, C)] → unit vectors [N, D] float32."""
    x = clips[..., None] if clips.ndim == 4 else clips
    out = [
        np.asarray(embedder(x[i : i + batch].astype(np.float32) / 255.0, training=False))
        for i in range(0, len(x), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, embedder.output_shape[-1]), np.float32)


def split_embedder(embedder: Any) -> tuple[Any, Any]:
    """(frame → features network, features → vector network) of an embedder made by `build_embedder`, or of the
    set model's (models/set_net.py)."""
    if any(layer.name == "set_pool" for layer in embedder.layers):
        from pipeline.models.set_net import split_embedder as split_set

        return split_set(embedder)
    return embedder.get_layer("per_frame_features").layer, embedder.layers[-1]


def frame_index(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions of each distinct frame's first copy, for every frame the index of its distinct copy)."""
    seen: dict[bytes, int] = {}
    first: list[int] = []
    inverse = np.empty(len(frames), np.int64)
    for i, frame in enumerate(frames):
        key = hashlib.blake2b(frame.tobytes(), digest_size=16).digest()
        j = seen.setdefault(key, len(first))
        if j == len(first):
            first.append(i)
        inverse[i] = j
    return np.asarray(first, np.int64), inverse


def embed_clips_shared(embedder: Any, clips: np.ndarray, batch: int = 32, frame_batch: int = 256) -> np.ndarray:
    """`embed_clips` with each distinct frame through the first stage once. Clips of a sequence overlap
    (stride S < length T: with T=24, S=12 a 45-frame sequence gives 72 clip frames) and the first stage is
    per frame and most of the cost, so the same vectors come for 1/(overlap) of its work."""
    x = clips[..., None] if clips.ndim == 4 else clips
    if len(x) == 0:
        return np.zeros((0, embedder.output_shape[-1]), np.float32)
    frame_net, gait_net = split_embedder(embedder)
    n, t = x.shape[:2]
    frames = x.reshape((n * t, *x.shape[2:]))
    first, inverse = frame_index(frames)
    unique = frames[first]
    feats = np.concatenate(
        [
            np.asarray(frame_net(unique[i : i + frame_batch].astype(np.float32) / 255.0, training=False))
            for i in range(0, len(unique), frame_batch)
        ]
    )
    per_clip = feats[inverse].reshape((n, t, *feats.shape[1:]))
    return np.concatenate([np.asarray(gait_net(per_clip[i : i + batch], training=False)) for i in range(0, n, batch)])
