"""Stage 1's spatial features, computed once for stage 2 when HumanPoseNN is frozen.

A frozen pose network gives every frame the same features in every epoch, so running it inside GaitNN's
training loop recomputes them each epoch (on 2 CPUs that was 4/5 of a gait epoch). Here the trained pose
network runs once over the clips as Ray Data batch inference (an actor pool), the features are kept as float16
in the object store, and GaitNN trains on them. The saved embedder is still the whole chain, frames → vector.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.models.embedding import frame_index, set_threads
from pipeline.train.config import TrainConfig
from pipeline.train.stages import STAGES, load_weights

FEATURE_DTYPE = np.float16  # halves the object store's share; features are batch-normed ELU outputs, O(1)


def feature_extractor(pose_net: Any) -> Any:
    """frames float [N, H, W, 3] in [0, 1] → the pose network's `features` map [N, h, w, C]."""
    import tf_keras as keras

    return keras.Model(pose_net.inputs, pose_net.get_layer("features").output, name="frame_features")


def clip_features(extractor: Any, clips: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 clips [B, T, H, W, 3] → features [B, T, h, w, C] (FEATURE_DTYPE). Clips of a sequence overlap
    (stride < length), so each distinct frame goes through the network once (as `gait index` does)."""
    b, t = clips.shape[:2]
    frames = clips.reshape((b * t, *clips.shape[2:]))
    first, inverse = frame_index(frames)
    unique = frames[first]
    out = [
        np.asarray(extractor(unique[i : i + batch].astype(np.float32) / 255.0, training=False), FEATURE_DTYPE)
        for i in range(0, len(unique), batch)
    ]
    feats = np.concatenate(out)[inverse]
    return feats.reshape((b, t, *feats.shape[1:]))


class ClipFeatures:
    """Ray Data actor: {"clip": uint8 clips, "label"} → {"clip": features, "label"}, one pose net per actor."""

    def __init__(self, cfg: dict[str, Any], input_size: list[int], weights: Any, threads: int = 1) -> None:
        set_threads(threads)
        net = STAGES["pose"].build(TrainConfig.from_dict(cfg), {"input_size": input_size})[1]
        load_weights(net, weights)  # a path, or (from `train`) an ObjectRef to the bytes: any node reads it
        self.extractor = feature_extractor(net)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {**batch, "clip": clip_features(self.extractor, batch["clip"])}


def feature_dataset(
    clips: Any, cfg: TrainConfig, input_size: list[int], weights: Any, shuffle_seed: int | None = None
) -> Any:
    """A materialised dataset of features and labels from one of clips and labels (`data.gait_dataset`),
    shuffled across the whole dataset with `shuffle_seed` (see `data.gait_dataset`)."""
    import ray

    actors = max(1, int(ray.cluster_resources().get("CPU", 1)))
    feats = clips.map_batches(
        ClipFeatures,
        fn_constructor_kwargs={"cfg": cfg.to_dict(), "input_size": input_size, "weights": weights},
        batch_size=64,  # a sequence's overlapping clips mostly in one batch: their shared frames computed once
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
        num_cpus=1,
    )
    return (feats.random_shuffle(seed=shuffle_seed) if shuffle_seed is not None else feats).materialize()
