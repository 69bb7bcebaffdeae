"""The first stage for silhouette datasets (CASIA-B silhouettes): a binary mask → the same spatial feature map
contract as the pose net's `features`, so GaitNN takes either."""

from __future__ import annotations

import tf_keras as keras

from pipeline.models.backbones import conv_bn_elu, residual_block


def build_silhouette_encoder(input_size: tuple[int, int] = (64, 64), feature_channels: int = 32) -> keras.Model:
    """Input `silhouettes` float32 [B, H, W, 1] in [0, 1] (`input_size` is (H, W)) → output `features`
    [B, H/4, W/4, feature_channels]."""
    h, w = input_size
    if h % 4 or w % 4:
        raise ValueError(f"input_size must be divisible by 4, got {input_size}")
    inputs = keras.Input(shape=(h, w, 1), name="silhouettes")
    x = conv_bn_elu(inputs, 32, 3, 2, "sil_stem")
    x = residual_block(x, "sil_res1")
    x = conv_bn_elu(x, 64, 3, 2, "sil_down")
    x = residual_block(x, "sil_res2")
    features = conv_bn_elu(x, feature_channels, 1, 1, "features", out_name="features")
    return keras.Model(inputs, features, name="silhouette_encoder")
