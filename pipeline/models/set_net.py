"""The set-based silhouette network, in the design of GaitSet (Chao et al. 2019) and GaitBase (Fan et al. 2023).

A sequence is an unordered set of silhouettes: a per-frame CNN, then max pooling over the frames (set pooling:
the result does not depend on their order or number), then horizontal strips of the pooled map, each pooled
(max + mean) and mapped by its own fully connected layer. Trained on P people × K sequences per batch with a
batch-all triplet loss on every strip plus a softmax (cosine, scaled, label-smoothed) per strip behind a batch
norm neck; random frames of a sequence in training, all of them at test.

Sizes: OpenGait's widths (32-64-128 at 64×44) cost ~0.2 GFLOP a frame; on 2 CPUs that is ~70 training frames
a second. The CPU preset halves the widths and starts with a stride-2 stem (the input stays 64×44), about 15×
cheaper; docs/casia-b.md has the figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf
import tf_keras as keras

from pipeline.models.layers import (
    BranchCosineDense,
    HorizontalPyramidPool,
    L2Normalize,
    SeparateDense,
    SetMaxPool,
)


def _conv(x: keras.KerasTensor, filters: int, kernel: int, name: str, strides: int = 1) -> keras.KerasTensor:
    """Conv → batch norm → leaky ReLU (GaitSet's activation; batch norm as in GaitBase, for short schedules)."""
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.LeakyReLU(0.01, name=f"{name}_act")(x)


def build_frame_cnn(input_size: tuple[int, int], widths: Sequence[int], stem_stride: int) -> keras.Model:
    """One silhouette [H, W, 1] → a feature map [H/(4·stem_stride), W/(4·stem_stride), widths[-1]]: three stages
    of two convs each, 2×2 max pooling between them (GaitSet's frame-level layers)."""
    h, w = input_size
    c1, c2, c3 = widths
    inputs = keras.Input(shape=(h, w, 1), name="silhouette")
    x = _conv(inputs, c1, 5, "set_conv1a", strides=stem_stride)
    x = _conv(x, c1, 3, "set_conv1b")
    x = keras.layers.MaxPooling2D(2, padding="same", name="set_pool1")(x)
    x = _conv(x, c2, 3, "set_conv2a")
    x = _conv(x, c2, 3, "set_conv2b")
    x = keras.layers.MaxPooling2D(2, padding="same", name="set_pool2")(x)
    x = _conv(x, c3, 3, "set_conv3a")
    x = _conv(x, c3, 3, "set_conv3b")
    return keras.Model(inputs, x, name="frame_cnn")


def build_set_net(
    input_size: tuple[int, int] = (64, 44),
    widths: Sequence[int] = (32, 64, 128),
    stem_stride: int = 1,
    bins: Sequence[int] = (1, 2, 4, 8, 16),
    part_dim: int = 64,
) -> keras.Model:
    """Input `silhouettes` float [B, T, H, W, 1] in [0, 1] for any T (`input_size` is (H, W)) → outputs
    `parts` [B, S, part_dim] (one vector per strip, what the triplet loss sees) and `embedding` [B, S·part_dim],
    the strips concatenated and scaled to unit length (what indexing and serving use)."""
    frames = keras.Input(shape=(None, *input_size, 1), name="silhouettes")
    cnn = build_frame_cnn(input_size, widths, stem_stride)
    rows = cnn.output_shape[1]
    if any(rows % n for n in bins):
        raise ValueError(f"the {rows} rows of the feature map (input {input_size}) do not split into strips {bins}")
    x = keras.layers.TimeDistributed(cnn, name="per_frame")(frames)
    x = SetMaxPool(name="set_pool")(x)
    x = HorizontalPyramidPool(bins, name="strips")(x)
    parts = SeparateDense(part_dim, name="parts")(x)
    flat = keras.layers.Flatten(name="flatten_parts")(parts)
    embedding = L2Normalize(name="embedding", dtype="float32")(flat)  # float32 under mixed precision too
    return keras.Model(frames, {"parts": parts, "embedding": embedding}, name="set_net")


def embedder(net: keras.Model) -> keras.Model:
    """The network with one output, the unit vector: the contract every embedder here has."""
    return keras.Model(net.inputs, net.output["embedding"], name="set_embedder")


TAIL = ("set_pool", "strips", "parts", "flatten_parts", "embedding")  # the layers after the per-frame CNN


def split_embedder(embedder: keras.Model) -> tuple[keras.Model, keras.Model]:
    """(frame → feature map, feature maps of a clip's frames [B, T, h, w, C] → vector) of a set embedder, so that
    the frames that overlapping clips share go through the CNN once (models/embedding.py)."""
    cnn = embedder.get_layer("per_frame").layer
    x = maps = keras.Input(shape=(None, *cnn.output_shape[1:]), name="frame_maps")
    for name in TAIL:
        x = embedder.get_layer(name)(x)
    return cnn, keras.Model(maps, x, name="set_tail")


def build_set_classifier(net: keras.Model, num_classes: int) -> keras.Model:
    """The training model: `parts` for the triplet loss, and per-strip cosines to the training subjects
    (`logits`) behind a batch norm neck (GaitBase's BNNeck: the softmax and the triplet loss then pull on
    differently normalised copies of the same features)."""
    inputs = keras.Input(shape=net.input_shape[1:], name=net.input_names[0])
    parts = net(inputs)["parts"]
    neck = keras.layers.BatchNormalization(axis=[1, 2], name="bn_neck")(parts)
    logits = BranchCosineDense(num_classes, name="logits")(neck)
    return keras.Model(inputs, {"parts": parts, "logits": logits}, name="set_classifier")


def part_softmax_loss(scale: float = 16.0, smoothing: float = 0.1) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """Cross-entropy of every strip's scaled cosines with label smoothing, averaged over the strips."""

    def part_softmax_loss(labels: tf.Tensor, cosines: tf.Tensor) -> tf.Tensor:
        cosines = tf.cast(cosines, tf.float32)
        n = tf.shape(cosines)[-1]
        onehot = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), n, dtype=tf.float32)
        smooth = onehot * (1.0 - smoothing) + smoothing / tf.cast(n, tf.float32)
        smooth = tf.broadcast_to(smooth[:, None, :], tf.shape(cosines))
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=smooth, logits=scale * cosines), -1)

    return part_softmax_loss


def batch_all_triplet_loss(margin: float = 0.2) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """GaitSet's batch-all triplet loss, strip by strip: relu(d(a, p) − d(a, n) + margin) over every anchor,
    positive and negative of the batch, averaged over the triplets that still violate the margin (averaging over
    all of them would fade as most become easy)."""

    def batch_all_triplet_loss(labels: tf.Tensor, parts: tf.Tensor) -> tf.Tensor:
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        x = tf.transpose(tf.cast(parts, tf.float32), [1, 0, 2])  # [S, B, D]
        sq = tf.reduce_sum(tf.square(x), -1)
        d2 = tf.nn.relu(sq[:, :, None] - 2.0 * tf.matmul(x, x, transpose_b=True) + sq[:, None, :])
        d = tf.sqrt(d2 + 1e-9)
        same = tf.equal(labels[:, None], labels[None, :])
        eye = tf.eye(tf.shape(labels)[0], dtype=tf.bool)
        pos = tf.logical_and(same, tf.logical_not(eye))
        mask = tf.cast(tf.logical_and(pos[:, :, None], tf.logical_not(same)[:, None, :]), tf.float32)
        loss = tf.nn.relu(d[:, :, :, None] - d[:, :, None, :] + margin) * mask[None]  # [S, a, p, n]
        active = tf.reduce_sum(tf.cast(loss > 0, tf.float32))
        return tf.reduce_sum(loss) / tf.maximum(active, 1.0)

    return batch_all_triplet_loss


def part_accuracy(labels: tf.Tensor, cosines: tf.Tensor) -> tf.Tensor:
    """Training accuracy of the strips' mean cosines."""
    return keras.metrics.sparse_categorical_accuracy(labels, tf.reduce_mean(cosines, axis=1))
