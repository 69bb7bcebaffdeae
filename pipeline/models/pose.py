"""HumanPoseNN, the first stage: a frame → heatmaps of the 16 MPII joints, plus the spatial feature map that
GaitNN reads (the input of the heatmap head)."""

from __future__ import annotations

import tf_keras as keras

from pipeline.common.skeleton import NUM_JOINTS
from pipeline.models.backbones import build_backbone, conv_bn_elu

HEAD_CHANNELS = 64


def build_pose_net(
    input_size: tuple[int, int] = (64, 64),
    backbone: str = "compact",
    feature_channels: int = 32,
    weights: str | None = None,
) -> keras.Model:
    """Input `frames` float32 [B, H, W, 3] in [0, 1] (`input_size` is (H, W)); outputs a dict: `heatmaps`
    [B, H/2, W/2, 16] (linear, MPII order) and `features` [B, H/4, W/4, feature_channels], a 1×1 conv of the
    backbone's output that feeds the heatmap head. `weights` is a local weights file for the backbone (see
    `build_backbone`)."""
    h, w = input_size
    if h % 4 or w % 4:
        raise ValueError(f"input_size must be divisible by 4 (the backbone's stride), got {input_size}")
    frames = keras.Input(shape=(h, w, 3), name="frames")
    trunk = build_backbone(backbone, (h, w, 3), weights=weights)(frames)
    features = conv_bn_elu(trunk, feature_channels, 1, 1, "features", out_name="features")
    # The head reads the features, so the heatmap loss trains them too; without that they would stay random.
    x = conv_bn_elu(features, HEAD_CHANNELS, 3, 1, "head")
    up = keras.layers.Conv2DTranspose(HEAD_CHANNELS // 2, 4, strides=2, padding="same", use_bias=False, name="head_up")
    x = up(x)
    x = keras.layers.BatchNormalization(name="head_up_bn")(x)
    x = keras.layers.Activation("elu", name="head_up_elu")(x)
    heatmaps = keras.layers.Conv2D(NUM_JOINTS, 1, name="heatmaps")(x)
    return keras.Model(frames, {"heatmaps": heatmaps, "features": features}, name="pose_net")
