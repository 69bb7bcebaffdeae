"""Backbones for the pose net: image [H, W, 3] in [0, 1] → spatial feature map at stride 4.

Every layer has a fixed name, so a weights file saved from one instance loads into another by name.
"""

from __future__ import annotations

from pathlib import Path

import tf_keras as keras

from pipeline.models.layers import CaffePreprocess

BACKBONES = ("compact", "vgg16", "resnet50")
# The stride-4 layer each Keras application is cut at.
_CUT = {"vgg16": "block3_conv3", "resnet50": "conv2_block3_out"}
_MIN_SIDE = 32  # the smallest input the Keras applications accept


def conv_bn_elu(
    x: keras.KerasTensor,
    filters: int,
    kernel: int,
    strides: int,
    name: str,
    out_name: str | None = None,
    momentum: float = 0.99,
) -> keras.KerasTensor:
    """Conv (no bias: batch norm has one) → batch norm → ELU, the unit every network here is built from.
    `out_name` names the ELU layer when it is a model's output; `momentum` is batch norm's for its moving
    statistics (lower for a network trained for few steps, see models/presence.py)."""
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return keras.layers.Activation("elu", name=out_name or f"{name}_elu")(x)


def residual_block(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    """Two 3×3 convs with an identity skip; the ELU comes after the add, as in ResNet."""
    filters = int(x.shape[-1])
    y = conv_bn_elu(x, filters, 3, 1, f"{name}_a")
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_b_conv")(y)
    y = keras.layers.BatchNormalization(name=f"{name}_b_bn")(y)
    y = keras.layers.Add(name=f"{name}_add")([x, y])
    return keras.layers.Activation("elu", name=f"{name}_out")(y)


def _compact(inputs: keras.KerasTensor) -> keras.KerasTensor:
    x = conv_bn_elu(inputs, 32, 3, 2, "compact_stem")
    x = residual_block(x, "compact_res1")
    x = conv_bn_elu(x, 64, 3, 2, "compact_down")
    x = residual_block(x, "compact_res2")
    return residual_block(x, "compact_res3")


def _application(name: str, inputs: keras.KerasTensor) -> keras.KerasTensor:
    scaled = CaffePreprocess(name=f"{name}_preprocess")(inputs)
    build = keras.applications.VGG16 if name == "vgg16" else keras.applications.ResNet50
    app = build(include_top=False, weights=None, input_tensor=scaled)
    return app.get_layer(_CUT[name]).output


def build_backbone(name: str, input_shape: tuple[int, int, int], weights: str | None = None) -> keras.Model:
    """The named backbone as a model of its own (input `image`). `weights` is None or a local weights file
    (HDF5, e.g. Keras' `*_notop.h5`, or one saved with `save_weights`), loaded by layer name; nothing is
    downloaded."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {BACKBONES}")
    h, w, _ = input_shape
    if name != "compact" and min(h, w) < _MIN_SIDE:
        raise ValueError(f"{name} needs inputs of at least {_MIN_SIDE}×{_MIN_SIDE}, got {h}×{w}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    outputs = _compact(inputs) if name == "compact" else _application(name, inputs)
    model = keras.Model(inputs, outputs, name=f"{name}_backbone")
    if weights is not None:
        if not Path(weights).is_file():
            raise FileNotFoundError(f"weights must be None or a local file (nothing is downloaded): {weights}")
        model.load_weights(str(weights), by_name=True, skip_mismatch=True)
    return model
