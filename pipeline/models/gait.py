"""GaitNN, the second stage: spatial features of every frame → pose descriptors → LSTM/GRU → the mean over time
→ an L2-normalised identity vector; plus the training head, the triplet loss and the end-to-end embedder."""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf
import tf_keras as keras

from pipeline.models.backbones import conv_bn_elu
from pipeline.models.layers import BranchCosineDense, CosineDense, L2Normalize, TemporalAverage

RNNS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def _bottleneck_block(x: keras.KerasTensor, bottleneck: int, name: str) -> keras.KerasTensor:
    """1×1 reduce → 3×3 → 1×1 expand, batch norm + ELU, identity skip."""
    channels = int(x.shape[-1])
    y = conv_bn_elu(x, bottleneck, 1, 1, f"{name}_reduce")
    y = conv_bn_elu(y, bottleneck, 3, 1, f"{name}_conv")
    y = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_expand_conv")(y)
    y = keras.layers.BatchNormalization(name=f"{name}_expand_bn")(y)
    y = keras.layers.Add(name=f"{name}_add")([x, y])
    return keras.layers.Activation("elu", name=f"{name}_out")(y)


def _frame_encoder(
    feature_shape: tuple[int, int, int],
    descriptor: int,
    blocks: int,
    bottleneck: int,
    name: str = "frame_encoder",
    stride: int = 1,
) -> keras.Model:
    """One frame's feature map [h, w, C] → its pose descriptor. With `stride` > 1 the first conv takes each
    stride × stride block of cells into stride × C channels: the encoder's tensors shrink by that factor, and on a
    CPU its time is spent moving them (batch norm, activations). Averaging the blocks instead lost 9 points of
    held-out BG rank-1 in the demo; a learned conv keeps where in the block a joint's response was."""
    inputs = keras.Input(shape=tuple(feature_shape), name="frame_features")
    channels = int(feature_shape[-1])
    x = conv_bn_elu(inputs, channels * stride, stride, stride, "gait_in")
    for i in range(blocks):
        x = _bottleneck_block(x, bottleneck, f"gait_block{i + 1}")
    x = keras.layers.Flatten(name="flatten")(x)
    out = keras.layers.Dense(descriptor, activation="elu", name="descriptor")(x)
    return keras.Model(inputs, out, name=name)


def _branch(
    inputs: keras.KerasTensor,
    feature_shape: tuple[int, int, int],
    rnn: str,
    rnn_layers: int,
    units: int,
    descriptor: int,
    embedding: int,
    blocks: int,
    bottleneck: int,
    suffix: str = "",
    stride: int = 1,
) -> keras.KerasTensor:
    """One GaitNN: per-frame descriptors → LSTM/GRU → temporal mean → projection → unit vector."""
    encoder = _frame_encoder(feature_shape, descriptor, blocks, bottleneck, f"frame_encoder{suffix}", stride)
    x = keras.layers.TimeDistributed(encoder, name=f"per_frame{suffix}")(inputs)
    for i in range(rnn_layers):
        x = RNNS[rnn](units, return_sequences=True, name=f"{rnn}{i + 1}{suffix}")(x)
    x = TemporalAverage(name=f"temporal_average{suffix}")(x)
    x = keras.layers.Dense(embedding, name=f"projection{suffix}")(x)
    return L2Normalize(name=f"embedding{suffix}")(x)


def build_gait_net(
    feature_shape: tuple[int, int, int],
    rnn: str = "lstm",
    rnn_layers: int = 1,
    units: int = 512,
    descriptor: int = 512,
    embedding: int = 512,
    blocks: int = 2,
    bottleneck: int = 16,
    branches: int = 1,
    stride: int = 1,
) -> keras.Model:
    """Input `features` [B, T, h, w, C] for any T (`feature_shape` is (h, w, C)) → output `embedding`
    [B, branches × embedding], unit length. Every frame and every clip is processed alone (no batch statistics at
    inference), so a clip's vector does not depend on what else is in the batch.

    With `branches` > 1, that many GaitNNs side by side, each with its own weights, initialisation and training
    head (`build_gait_classifier`), their unit vectors concatenated and scaled back to unit length: an ensemble
    inside one model. Single GaitNNs trained on the demo's 36 people differ by up to 7 points of held-out BG
    rank-1 from seed to seed; two of them together beat their mean by 2-4 (docs/evaluation.md)."""
    if rnn not in RNNS:
        raise ValueError(f"unknown rnn {rnn!r}; expected one of {sorted(RNNS)}")
    if rnn_layers < 1:
        raise ValueError(f"rnn_layers must be at least 1, got {rnn_layers}")
    if branches < 1:
        raise ValueError(f"branches must be at least 1, got {branches}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    inputs = keras.Input(shape=(None, *feature_shape), name="features")
    args = (feature_shape, rnn, rnn_layers, units, descriptor, embedding, blocks, bottleneck)
    if branches == 1:
        return keras.Model(inputs, _branch(inputs, *args, stride=stride), name="gait_net")
    outs = [_branch(inputs, *args, suffix=f"_b{i + 1}", stride=stride) for i in range(branches)]
    x = keras.layers.Concatenate(name="branches")(outs)
    out = keras.layers.Rescaling(1.0 / math.sqrt(branches), name="embedding")(x)
    return keras.Model(inputs, out, name="gait_net")


def build_gait_classifier(
    embedder: keras.Model,
    num_classes: int,
    dropout: float = 0.5,
    scale: float = 16.0,
    margin: float = 0.0,
    branches: int = 1,
) -> keras.Model:
    """The training head: embedder → ×scale → dropout → dense softmax over the training subjects (`probs`).
    The vector is unit length, so without the scale the logits can only grow as fast as Adam grows the dense
    weights, and the softmax stays near uniform for many epochs (NormFace's observation; the demo sat at
    chance for 5 epochs). With `margin` > 0 the head gives cosines to class directions instead, for
    `am_softmax_loss`. The embedder is nested as one layer and shares its weights."""
    inputs = keras.Input(shape=embedder.input_shape[1:], name=embedder.input_names[0])
    x = embedder(inputs)
    if branches > 1:  # one head per branch: cosines [B, branches, classes], a loss for each
        if margin <= 0:
            raise ValueError("branches > 1 needs the additive-margin head (margin > 0)")
        x = keras.layers.Reshape((branches, -1), name="per_branch")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        return keras.Model(inputs, BranchCosineDense(num_classes, name="probs")(x), name="gait_classifier")
    if margin > 0:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        return keras.Model(inputs, CosineDense(num_classes, name="probs")(x), name="gait_classifier")
    x = keras.layers.Rescaling(scale, name="logit_scale")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    probs = keras.layers.Dense(num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, probs, name="gait_classifier")


def am_softmax_loss(margin: float, scale: float = 16.0) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """Additive-margin softmax (CosFace, AM-softmax) on cosines: the true class's cosine must beat the others by
    `margin`. Plain softmax only has to separate the training people; the margin makes each one's vectors
    tighter than that, which is what carries over to people never seen (demo: held-out BG/CL rank-1 +5 points,
    docs/training.md)."""

    def am_softmax_loss(labels: tf.Tensor, cosines: tf.Tensor) -> tf.Tensor:
        onehot = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), tf.shape(cosines)[-1], dtype=cosines.dtype)
        if cosines.shape.rank == 3:  # one head per branch: the same label for each, the losses averaged
            onehot = tf.broadcast_to(onehot[:, None, :], tf.shape(cosines))
        logits = scale * (cosines - margin * onehot)
        return tf.nn.softmax_cross_entropy_with_logits(labels=onehot, logits=logits)

    return am_softmax_loss


def accuracy(labels: tf.Tensor, outputs: tf.Tensor) -> tf.Tensor:
    """Training accuracy of the head; with one head per branch, of their mean cosines."""
    if outputs.shape.rank == 3:
        outputs = tf.reduce_mean(outputs, axis=1)
    return keras.metrics.sparse_categorical_accuracy(labels, outputs)


def _pairwise_distances(embeddings: tf.Tensor) -> tf.Tensor:
    """Euclidean distances [B, B], with a finite gradient where a distance is zero (the diagonal)."""
    sq = tf.reduce_sum(tf.square(embeddings), axis=1)
    d2 = tf.maximum(sq[:, None] - 2.0 * tf.matmul(embeddings, embeddings, transpose_b=True) + sq[None, :], 0.0)
    zero = tf.cast(tf.equal(d2, 0.0), d2.dtype)
    return tf.sqrt(d2 + zero * 1e-16) * (1.0 - zero)


def batch_hard_triplet_loss(margin: float = 0.2) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """Batch-hard triplet loss (Hermans et al. 2017): for every anchor, its farthest positive and nearest
    negative in the batch; mean of relu(d_pos − d_neg + margin) over anchors that have both."""

    def batch_hard_triplet_loss(labels: tf.Tensor, embeddings: tf.Tensor) -> tf.Tensor:
        labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
        embeddings = tf.cast(embeddings, tf.float32)
        d = _pairwise_distances(embeddings)
        same = tf.equal(labels[:, None], labels[None, :])
        eye = tf.eye(tf.shape(labels)[0], dtype=tf.bool)
        positive = tf.cast(tf.logical_and(same, tf.logical_not(eye)), d.dtype)
        negative = tf.cast(tf.logical_not(same), d.dtype)
        hardest_pos = tf.reduce_max(d * positive, axis=1)
        # Non-negatives are pushed past the row's largest distance so that the minimum ignores them.
        hardest_neg = tf.reduce_min(d + tf.reduce_max(d, axis=1, keepdims=True) * (1.0 - negative), axis=1)
        valid = tf.cast(tf.reduce_any(positive > 0, axis=1) & tf.reduce_any(negative > 0, axis=1), d.dtype)
        per_anchor = tf.nn.relu(hardest_pos - hardest_neg + margin) * valid
        return tf.reduce_sum(per_anchor) / tf.maximum(tf.reduce_sum(valid), 1.0)

    return batch_hard_triplet_loss


def build_embedder(pose_net: keras.Model, gait_net: keras.Model, clip_shape: tuple[int, int, int]) -> keras.Model:
    """Clips float32 [B, T, H, W, C] in [0, 1] (`clip_shape` is one frame's (H, W, C), T is free) → the pose
    net's `features` for every frame → GaitNN → `embedding`. Used for indexing and serving. The first stage may
    be the pose net or the silhouette encoder: anything with a layer named `features`."""
    first = keras.Model(pose_net.inputs, pose_net.get_layer("features").output, name="frame_features")
    clips = keras.Input(shape=(None, *clip_shape), name="clips")
    features = keras.layers.TimeDistributed(first, name="per_frame_features")(clips)
    embedding = gait_net(features)
    return keras.Model(clips, embedding, name="embedder")
