"""Custom layers, registered so that `.keras` files reload in any process (Lambda layers do not, safely).

Importing any `pipeline.*` module runs `pipeline/__init__.py` first, which selects tf-keras before TensorFlow loads.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
import tf_keras as keras

# ImageNet channel means (BGR) of the Caffe-style preprocessing that VGG16 and ResNet50 weights expect.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="gait")
class L2Normalize(keras.layers.Layer):
    """Scales vectors to unit length along `axis`, so that distances between identity vectors are cosines."""

    def __init__(self, axis: int = -1, epsilon: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.math.l2_normalize(inputs, axis=self.axis, epsilon=self.epsilon)

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        return tf.TensorShape(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="gait")
class TemporalAverage(keras.layers.Layer):
    """[B, T, D] → [B, D], the plain mean over every time step (no masking), for clips of any length."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(inputs, axis=1)

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        shape = tf.TensorShape(input_shape).as_list()
        return tf.TensorShape([shape[0], *shape[2:]])


@keras.saving.register_keras_serializable(package="gait")
class CaffePreprocess(keras.layers.Layer):
    """Images in [0, 1] (RGB) → what the Keras VGG16/ResNet50 weights were trained on: 0–255, BGR, mean removed.
    Inside the model, so callers always feed [0, 1] whatever the backbone."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        bgr = tf.reverse(tf.cast(inputs, self.compute_dtype) * 255.0, axis=[-1])
        return bgr - tf.constant(CAFFE_MEAN_BGR, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        return tf.TensorShape(input_shape)


@keras.saving.register_keras_serializable(package="gait")
class CosineDense(keras.layers.Layer):
    """Unit vectors [B, D] → cosines to `units` learnt class directions [B, units] (weights normalised too):
    the head of an additive-margin softmax (CosFace / AM-softmax), which trains on angles only."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape: tf.TensorShape) -> None:
        self.kernel = self.add_weight(
            name="kernel", shape=(int(input_shape[-1]), self.units), initializer="glorot_uniform"
        )
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = tf.math.l2_normalize(inputs, axis=-1)
        return tf.matmul(x, tf.math.l2_normalize(self.kernel, axis=0))

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        return tf.TensorShape([*tf.TensorShape(input_shape).as_list()[:-1], self.units])

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="gait")
class BranchCosineDense(keras.layers.Layer):
    """[B, N, D] (N branches' vectors) → cosines [B, N, units], each branch with its own class directions: N
    additive-margin heads in one layer, so that every branch of an ensemble GaitNN trains on its own loss."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape: tf.TensorShape) -> None:
        n, d = int(input_shape[-2]), int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(n, d, self.units), initializer="glorot_uniform")
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = tf.math.l2_normalize(inputs, axis=-1)
        return tf.einsum("bnd,ndc->bnc", x, tf.math.l2_normalize(self.kernel, axis=1))

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        return tf.TensorShape([*tf.TensorShape(input_shape).as_list()[:-1], self.units])

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="gait")
class SetMaxPool(keras.layers.Layer):
    """[B, T, ...] → [B, ...]: the element-wise maximum over the frames, the same for any order or number."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.reduce_max(inputs, axis=1)

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        shape = tf.TensorShape(input_shape).as_list()
        return tf.TensorShape([shape[0], *shape[2:]])


@keras.saving.register_keras_serializable(package="gait")
class HorizontalPyramidPool(keras.layers.Layer):
    """[B, h, w, C] → [B, S, C]: the map cut into 1, 2, 4, … horizontal strips (`bins`), each strip's max plus
    its mean (GaitSet's horizontal pyramid mapping); S = sum(bins). Strips keep what each body part does."""

    def __init__(self, bins: Sequence[int] = (1, 2, 4, 8), **kwargs):
        super().__init__(**kwargs)
        self.bins = tuple(int(b) for b in bins)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        b, h, c = tf.shape(inputs)[0], inputs.shape[1], inputs.shape[-1]
        strips = []
        for n in self.bins:
            if h % n:
                raise ValueError(f"feature map height {h} is not divisible into {n} strips")
            x = tf.reshape(inputs, [b, n, -1, c])  # rows of a strip, with every column, in one axis
            strips.append(tf.reduce_max(x, axis=2) + tf.reduce_mean(x, axis=2))
        return tf.concat(strips, axis=1)

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        shape = tf.TensorShape(input_shape).as_list()
        return tf.TensorShape([shape[0], sum(self.bins), shape[-1]])

    def get_config(self) -> dict:
        return {**super().get_config(), "bins": list(self.bins)}


@keras.saving.register_keras_serializable(package="gait")
class SeparateDense(keras.layers.Layer):
    """[B, S, C] → [B, S, units]: a fully connected layer per strip, each with its own weights (no bias)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape: tf.TensorShape) -> None:
        s, c = int(input_shape[-2]), int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(s, c, self.units), initializer="glorot_uniform")
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.einsum("bsc,scd->bsd", inputs, tf.cast(self.kernel, inputs.dtype))

    def compute_output_shape(self, input_shape: tf.TensorShape) -> tf.TensorShape:
        return tf.TensorShape([*tf.TensorShape(input_shape).as_list()[:-1], self.units])

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}
