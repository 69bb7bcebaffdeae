"""The set-based silhouette network: shapes, invariance to frame order and number, its losses, and that every
model a preset builds saves and reloads its checkpoint weights."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from pipeline.models import set_net
from pipeline.train.config import PRESETS, TrainConfig
from pipeline.train.stages import build_stage_model, load_weights

SMALL = {"widths": (4, 8, 8), "bins": (1, 2, 4), "part_dim": 8}


def test_shapes_any_number_of_frames():
    net = set_net.build_set_net((32, 24), stem_stride=1, **SMALL)
    for t in (1, 5, 30):
        out = net(np.random.rand(3, t, 32, 24, 1).astype(np.float32))
        assert out["parts"].shape == (3, 7, 8) and out["embedding"].shape == (3, 56)
        np.testing.assert_allclose(np.linalg.norm(out["embedding"], axis=1), 1.0, rtol=1e-5)


def test_a_set_does_not_depend_on_frame_order():
    emb = set_net.embedder(set_net.build_set_net((32, 24), stem_stride=2, **SMALL))
    clip = np.random.default_rng(0).random((1, 12, 32, 24, 1)).astype(np.float32)
    shuffled = clip[:, np.random.default_rng(1).permutation(12)]
    np.testing.assert_allclose(emb(clip, training=False), emb(shuffled, training=False), atol=1e-6)
    doubled = np.concatenate([clip, clip], axis=1)  # the same set of frames, each twice
    np.testing.assert_allclose(emb(clip, training=False), emb(doubled, training=False), atol=1e-6)
    other = np.random.default_rng(2).random((1, 12, 32, 24, 1)).astype(np.float32)
    assert not np.allclose(emb(clip, training=False), emb(other, training=False), atol=1e-4)


def test_shared_frames_give_the_same_vectors_as_whole_clips():
    """gait index and evaluate push each distinct frame of overlapping clips through the CNN once."""
    from pipeline.models.embedding import embed_clips, embed_clips_shared

    emb = set_net.embedder(set_net.build_set_net((32, 24), stem_stride=2, **SMALL))
    frames = np.random.default_rng(0).integers(0, 256, (20, 32, 24), dtype=np.uint8)
    clips = np.stack([frames[i : i + 8] for i in range(0, 13, 4)])  # overlapping windows of one sequence
    np.testing.assert_allclose(embed_clips_shared(emb, clips), embed_clips(emb, clips), atol=1e-5)


def test_batch_all_triplet_loss_is_zero_when_people_are_apart_and_positive_when_mixed():
    loss = set_net.batch_all_triplet_loss(0.2)
    labels = tf.constant([0, 0, 1, 1])
    apart = tf.constant([[[0.0, 0.0]], [[0.0, 0.1]], [[5.0, 5.0]], [[5.0, 5.1]]])  # [B, 1 strip, 2]
    assert float(loss(labels, apart)) == pytest.approx(0.0, abs=1e-6)
    mixed = tf.constant([[[0.0, 0.0]], [[5.0, 5.0]], [[0.0, 0.1]], [[5.0, 5.1]]])
    assert float(loss(labels, mixed)) > 1.0


def test_part_softmax_loss_falls_as_the_true_class_wins():
    loss = set_net.part_softmax_loss()
    labels = tf.constant([1])
    right = tf.constant([[[0.0, 1.0, 0.0]] * 3])  # [B, 3 strips, 3 classes]
    wrong = tf.constant([[[1.0, 0.0, 0.0]] * 3])
    assert float(tf.reduce_mean(loss(labels, right))) < float(tf.reduce_mean(loss(labels, wrong)))


def _preset_models() -> list[tuple[str, TrainConfig]]:
    """Every first stage × branch count (and backbone, recurrent layers) the presets build, once each; the set
    models the presets build; GaitNN in the P × K recipe."""
    out, seen = [], set()
    for name, cfg in PRESETS.items():
        if cfg.gait_model == "set":
            out.append((name, cfg))
            continue
        for first in ("pose", "silhouette"):
            arch = (first, cfg.branches, cfg.backbone, cfg.rnn, cfg.rnn_layers, cfg.blocks)
            if arch not in seen:
                seen.add(arch)
                out.append((f"{name}-{first}", cfg.with_changes(first_stage=first)))
    out.append(("gaitnn-pk", PRESETS["demo"].with_changes(first_stage="silhouette", sampler="pk", branches=3)))
    return out


@pytest.mark.parametrize("name,cfg", _preset_models(), ids=[n for n, _ in _preset_models()])
def test_checkpoint_weights_save_and_reload_for_every_preset_model(name, cfg, tmp_path):
    """The checkpoint format keeps nested models and repeated layer names (three GaitNN branches around a
    silhouette encoder broke legacy HDF5: 'Unable to synchronously create dataset (name already exists)')."""
    sizes = {"units": 8, "descriptor": 8, "embedding": 8, "feature_channels": 8}
    small = cfg.with_changes(**sizes, set_widths=(4, 8, 8), set_bins=(1, 2, 4), set_stem_stride=1)
    stage = "set" if cfg.sampler == "pk" else "gait"
    spec = {"input_size": [32, 32], "num_classes": 5}
    _, product = build_stage_model(stage, small, spec)
    path = tmp_path / "model.weights.h5"
    product.save_weights(str(path))
    _, again = build_stage_model(stage, small, spec)
    load_weights(again, path.read_bytes())
    shape = product.input_shape
    x = np.random.default_rng(0).random((2, 4, *shape[2:])).astype(np.float32)
    np.testing.assert_allclose(product(x, training=False), again(x, training=False), atol=1e-6)
