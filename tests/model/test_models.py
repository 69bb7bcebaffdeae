"""The models: shapes, backbones and local weights, length-free GaitNN, heatmap coding, PCK, the triplet loss,
reloading every model in a fresh process, model directory versions, and a tiny pose training run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from pipeline.common.model_dir import directory_version
from pipeline.models.backbones import build_backbone
from pipeline.models.gait import (
    am_softmax_loss,
    batch_hard_triplet_loss,
    build_embedder,
    build_gait_classifier,
    build_gait_net,
)
from pipeline.models.heatmaps import heatmaps_to_joints, joints_to_heatmaps, pck, pck_per_joint
from pipeline.models.io import load_model, save_model
from pipeline.models.layers import CaffePreprocess, CosineDense, L2Normalize, TemporalAverage
from pipeline.models.pose import build_pose_net
from pipeline.models.presence import build_presence_net
from pipeline.models.silhouette import build_silhouette_encoder
from pipeline.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
SMALL_GAIT = {"units": 16, "descriptor": 32, "embedding": 16, "blocks": 1, "bottleneck": 8}


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


@pytest.fixture(scope="module")
def pose_net():
    return build_pose_net()


@pytest.fixture(scope="module")
def small_gait():
    return build_gait_net((16, 16, 32), **SMALL_GAIT)


# --- layers and backbones ------------------------------------------------------------------------------------


def test_custom_layers():
    x = tf.constant(rand(3, 5, 4) - 0.5)
    np.testing.assert_allclose(np.linalg.norm(L2Normalize()(x).numpy(), axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(TemporalAverage()(x).numpy(), x.numpy().mean(axis=1), rtol=1e-6)
    inp = keras.Input(shape=(None, 4))
    assert TemporalAverage()(inp).shape.as_list() == [None, 4]
    assert L2Normalize.from_config(L2Normalize(axis=1).get_config()).axis == 1
    img = np.zeros((1, 2, 2, 3), np.float32)
    img[..., 0] = 1.0  # pure red in [0, 1] → BGR 0–255 minus the ImageNet means
    np.testing.assert_allclose(CaffePreprocess()(img).numpy()[0, 0, 0], [-103.939, -116.779, 255 - 123.68], atol=1e-4)


def test_backbones_build_at_stride_4():
    shapes = {name: build_backbone(name, (64, 64, 3)).output_shape for name in ("compact", "vgg16", "resnet50")}
    assert shapes == {"compact": (None, 16, 16, 64), "vgg16": (None, 16, 16, 256), "resnet50": (None, 16, 16, 256)}
    with pytest.raises(ValueError, match="at least 32"):
        build_backbone("vgg16", (16, 16, 3))
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("inception", (64, 64, 3))
    with pytest.raises(FileNotFoundError):
        build_backbone("compact", (64, 64, 3), weights="/nonexistent/weights.h5")


def test_backbone_loads_local_weights_by_name(tmp_path):
    x = rand(2, 64, 64, 3)
    a = build_backbone("compact", (64, 64, 3))
    a.save_weights(str(tmp_path / "compact.h5"))
    b = build_backbone("compact", (64, 64, 3), weights=str(tmp_path / "compact.h5"))
    np.testing.assert_allclose(b.predict(x, verbose=0), a.predict(x, verbose=0), atol=1e-5)
    # A whole VGG16 application's weights (what Keras' *_notop.h5 holds) load into the cut backbone by name.
    full = keras.applications.VGG16(include_top=False, weights=None, input_shape=(64, 64, 3))
    full.save_weights(str(tmp_path / "vgg16_notop.h5"))
    cut = build_backbone("vgg16", (64, 64, 3), weights=str(tmp_path / "vgg16_notop.h5"))
    reference = keras.Model(full.input, full.get_layer("block3_conv3").output)
    expected = reference.predict(CaffePreprocess()(x).numpy(), verbose=0)
    np.testing.assert_allclose(cut.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-3)


# --- shapes --------------------------------------------------------------------------------------------------


def test_pose_net_shapes(pose_net):
    out = pose_net.predict(rand(2, 64, 64, 3), verbose=0)
    assert {k: v.shape for k, v in out.items()} == {"heatmaps": (2, 32, 32, 16), "features": (2, 16, 16, 32)}
    other = build_pose_net(input_size=(96, 64), feature_channels=16)
    out = other.predict(rand(1, 96, 64, 3), verbose=0)
    assert {k: v.shape for k, v in out.items()} == {"heatmaps": (1, 48, 32, 16), "features": (1, 24, 16, 16)}
    with pytest.raises(ValueError, match="divisible by 4"):
        build_pose_net(input_size=(62, 64))


def test_silhouette_and_presence_shapes():
    assert build_silhouette_encoder().predict(rand(2, 64, 64, 1), verbose=0).shape == (2, 16, 16, 32)
    enc = build_silhouette_encoder(input_size=(64, 48), feature_channels=8)
    assert enc.predict(rand(1, 64, 48, 1), verbose=0).shape == (1, 16, 12, 8)
    p = build_presence_net().predict(rand(3, 64, 64, 3), verbose=0)
    assert p.shape == (3, 1) and ((p > 0) & (p < 1)).all()
    assert build_presence_net(input_size=(48, 32)).predict(rand(1, 48, 32, 3), verbose=0).shape == (1, 1)


def test_gait_net_default_shapes():
    net = build_gait_net((16, 16, 32))
    assert net.input_shape == (None, None, 16, 16, 32) and net.output_shape == (None, 512)
    assert net.get_layer("per_frame").layer.get_layer("descriptor").output_shape == (None, 512)
    emb = net.predict(rand(2, 3, 16, 16, 32), verbose=0)
    assert emb.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("rnn", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_gait_net_rnn_variants(rnn, layers):
    net = build_gait_net((8, 8, 16), rnn=rnn, rnn_layers=layers, **SMALL_GAIT)
    kind = keras.layers.LSTM if rnn == "lstm" else keras.layers.GRU
    assert sum(isinstance(layer, kind) for layer in net.layers) == layers
    assert net.predict(rand(2, 4, 8, 8, 16), verbose=0).shape == (2, 16)


def test_gait_net_is_length_free_and_unit_norm(small_gait):
    for length in (1, 8, 24, 100):
        emb = small_gait.predict(rand(2, length, 16, 16, 32, seed=length), verbose=0)
        assert emb.shape == (2, 16)
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)


def test_gait_vector_does_not_depend_on_the_batch(small_gait):
    clips = rand(3, 8, 16, 16, 32, seed=3)
    alone = small_gait.predict(clips[:1], verbose=0)
    together = small_gait.predict(clips, verbose=0)
    reordered = small_gait.predict(clips[::-1], verbose=0)
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)
    np.testing.assert_allclose(reordered[2], alone[0], atol=1e-5)


def test_gait_classifier(small_gait):
    clf = build_gait_classifier(small_gait, num_classes=7, dropout=0.3)
    assert clf.output_names == ["probs"] and clf.output_shape == (None, 7)
    assert clf.get_layer("gait_net") is small_gait  # shares the embedder's weights
    probs = clf.predict(rand(2, 5, 16, 16, 32), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_embedder_from_frames(pose_net, small_gait):
    emb = build_embedder(pose_net, small_gait, (64, 64, 3))
    assert emb.input_shape == (None, None, 64, 64, 3) and emb.output_shape == (None, 16)
    clips = rand(2, 3, 64, 64, 3)
    features = pose_net.predict(clips.reshape(-1, 64, 64, 3), verbose=0)["features"].reshape(2, 3, 16, 16, 32)
    np.testing.assert_allclose(emb.predict(clips, verbose=0), small_gait.predict(features, verbose=0), atol=1e-5)


# --- heatmaps and PCK ----------------------------------------------------------------------------------------


def test_heatmap_round_trip_within_half_a_pixel():
    rng = np.random.default_rng(0)
    n, size = 64, (64, 48)  # (width, height)
    joints = np.zeros((n, 16, 3), np.float32)
    joints[..., 0] = rng.uniform(0, size[0] - 1, (n, 16))
    joints[..., 1] = rng.uniform(0, size[1] - 1, (n, 16))
    joints[..., 2] = rng.random((n, 16)) < 0.8
    joints[0, :, :2] = 0  # corners and edges too
    joints[1, :, 0], joints[1, :, 1] = size[0] - 1, size[1] - 1
    joints[2, :, 0] = 0
    for heatmap_size, sigma in (((32, 24), 1.0), ((32, 24), 2.0), ((16, 12), 1.0)):
        maps = joints_to_heatmaps(joints, size, heatmap_size, sigma)
        assert maps.shape == (n, heatmap_size[1], heatmap_size[0], 16) and maps.dtype == np.float32
        visible = joints[..., 2] > 0
        assert (maps.transpose(0, 3, 1, 2)[~visible] == 0).all()
        assert maps.max() <= 1.0
        back = heatmaps_to_joints(maps, size)
        err = np.abs(back[..., :2] - joints[..., :2]).max(axis=-1)
        assert err[visible].max() < 0.5, (heatmap_size, sigma, err[visible].max())
        assert (back[..., 2][visible] > 0.3).all() and (back[..., 2][~visible] == 0).all()


def test_heatmap_peak_is_one_at_the_joint():
    joints = np.zeros((1, 16, 3), np.float32)
    joints[0, :] = [8.5, 20.5, 1.0]  # input pixels → cells ((8.5 + 0.5) / 2 − 0.5, (20.5 + 0.5) / 2 − 0.5) = (4, 10)
    maps = joints_to_heatmaps(joints, (64, 64), (32, 32))
    assert maps[0, 10, 4, 0] == pytest.approx(1.0)
    assert np.unravel_index(maps[0, ..., 0].argmax(), (32, 32)) == (10, 4)
    np.testing.assert_allclose(heatmaps_to_joints(maps, (64, 64))[0, 0], [8.5, 20.5, 1.0], atol=1e-4)


def _skeleton(n: int = 4) -> np.ndarray:
    joints = np.zeros((n, 16, 3), np.float32)
    joints[..., 0] = np.arange(16) * 2.0
    joints[..., 1] = 5.0
    joints[..., 2] = 1
    joints[:, 13, :2] = [0.0, 0.0]  # left shoulder
    joints[:, 2, :2] = [30.0, 40.0]  # right hip: torso = 50, so the 0.2 threshold is 10 pixels
    return joints


def test_pck_hand_made():
    truth = _skeleton()
    assert pck(truth, truth) == 1.0
    np.testing.assert_array_equal(pck_per_joint(truth, truth), np.ones(16))
    pred = truth.copy()
    pred[:, 0, 0] += 9.99  # just under 10 pixels: right
    pred[:, 1, 1] += 10.01  # just over: wrong
    pred[:, 5, :2] += [6.0, 8.0]  # exactly 10: right
    per = pck_per_joint(pred, truth)
    assert per[0] == 1.0 and per[1] == 0.0 and per[5] == 1.0
    assert pck(pred, truth) == pytest.approx(15 / 16)
    assert pck(pred, truth, threshold=0.3) == 1.0


def test_pck_skips_invisible_joints_and_torsos():
    truth = _skeleton(2)
    pred = truth.copy()
    pred[:, 7, 0] += 100  # wrong but invisible in the truth: not counted
    truth[:, 7, 2] = 0
    pred[1] += 100  # the second sample is all wrong, but its right hip is invisible: skipped
    truth[1, 2, 2] = 0
    assert pck(pred, truth) == 1.0
    per = pck_per_joint(pred, truth)
    assert np.isnan(per[7]) and np.nansum(per) == 15
    truth[:, 13, 2] = 0
    assert np.isnan(pck(pred, truth))


# --- triplet loss --------------------------------------------------------------------------------------------


def _triplet_numpy(labels: np.ndarray, emb: np.ndarray, margin: float) -> float:
    d = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    losses = []
    for i in range(len(labels)):
        pos = [d[i, j] for j in range(len(labels)) if labels[j] == labels[i] and j != i]
        neg = [d[i, j] for j in range(len(labels)) if labels[j] != labels[i]]
        if pos and neg:
            losses.append(max(0.0, max(pos) - min(neg) + margin))
    return float(np.mean(losses)) if losses else 0.0


def test_batch_hard_triplet_loss_matches_numpy():
    labels = np.array([0, 0, 1, 1, 1, 2])  # subject 2 has no positive: it is only a negative
    emb = np.array([[0, 0], [0.3, 0.1], [0.2, 0.0], [1, 1], [0.9, 1.2], [0.25, 0.05]], np.float32)
    for margin in (0.2, 1.0):
        got = float(batch_hard_triplet_loss(margin)(tf.constant(labels), tf.constant(emb)))
        assert got == pytest.approx(_triplet_numpy(labels, emb, margin), abs=1e-5)
    far = np.array([[0, 0], [0, 0.01], [5, 5], [5, 5.01]], np.float32)
    assert float(batch_hard_triplet_loss(0.2)(tf.constant([0, 0, 1, 1]), tf.constant(far))) == 0.0
    # Identical embeddings (zero distances) still give finite gradients.
    same = tf.Variable(np.ones((4, 3), np.float32))
    with tf.GradientTape() as tape:
        loss = batch_hard_triplet_loss(0.2)(tf.constant([[0], [0], [1], [1]]), same)
    assert float(loss) == pytest.approx(0.2) and np.isfinite(tape.gradient(loss, same).numpy()).all()


# --- saving, reloading, versions -----------------------------------------------------------------------------

RELOAD = """
import sys
import numpy as np
from pipeline.models.io import load_model
d = sys.argv[1]
for name in ("pose", "gait", "embedder", "silhouette", "presence"):
    out = load_model(f"{d}/{name}.keras").predict(np.load(f"{d}/{name}_in.npy"), verbose=0)
    out = out if isinstance(out, dict) else {"out": out}
    for key, value in out.items():
        np.save(f"{d}/{name}_{key}_out.npy", value)
"""


def _randomize_batch_norm_statistics(model: keras.Model, seed: int) -> None:
    """Fresh models have moving means 0 and variances 1; different values check that those are saved too."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if "moving_mean" in w.name:
            w.assign(rng.normal(0, 0.1, w.shape).astype(np.float32))
        elif "moving_variance" in w.name:
            w.assign(rng.uniform(0.5, 2.0, w.shape).astype(np.float32))


def test_every_model_reloads_in_a_fresh_process(tmp_path):
    pose_net, small_gait = build_pose_net(), build_gait_net((16, 16, 32), **SMALL_GAIT)
    models = {
        "pose": (pose_net, rand(2, 64, 64, 3)),
        "gait": (small_gait, rand(2, 5, 16, 16, 32)),
        "embedder": (build_embedder(pose_net, small_gait, (64, 64, 3)), rand(1, 4, 64, 64, 3)),
        "silhouette": (build_silhouette_encoder(), rand(2, 64, 64, 1)),
        "presence": (build_presence_net(), rand(2, 64, 64, 3)),
    }
    expected = {}
    for seed, (name, (model, x)) in enumerate(models.items()):
        _randomize_batch_norm_statistics(model, seed)
        assert save_model(model, tmp_path / f"{name}.keras") == tmp_path / f"{name}.keras"
        np.save(tmp_path / f"{name}_in.npy", x)
        out = model.predict(x, verbose=0)
        for key, value in (out if isinstance(out, dict) else {"out": out}).items():
            expected[f"{name}_{key}"] = value
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporaries left
    r = subprocess.run([sys.executable, "-c", RELOAD, str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    for key, value in expected.items():
        np.testing.assert_allclose(np.load(tmp_path / f"{key}_out.npy"), value, atol=1e-5, err_msg=key)
    assert isinstance(load_model(tmp_path / "gait.keras").get_layer("embedding"), L2Normalize)
    with pytest.raises(ValueError, match=r"\.keras"):
        save_model(small_gait, tmp_path / "gait.h5")


def test_directory_version(tmp_path):
    (tmp_path / "pose").mkdir()
    (tmp_path / "pose" / "model.keras").write_bytes(b"weights")
    (tmp_path / "config.json").write_text("{}")
    v = directory_version(tmp_path)
    assert len(v) == 16 and int(v, 16) >= 0
    assert directory_version(tmp_path) == v
    (tmp_path / "version").write_text(v)  # writing the version into the directory does not change it
    (tmp_path / "config.json").touch()
    assert directory_version(tmp_path) == v
    (tmp_path / "evaluation").mkdir()  # nor do the evaluation reports kept beside the model
    (tmp_path / "evaluation" / "report.html").write_text("<html>")
    assert directory_version(tmp_path) == v
    (tmp_path / "pose" / "model.keras").write_bytes(b"weightz")
    changed = directory_version(tmp_path)
    assert changed != v
    (tmp_path / "pose" / "model.keras").write_bytes(b"weights")
    assert directory_version(tmp_path) == v
    (tmp_path / "pose" / "model.keras").rename(tmp_path / "pose" / "other.keras")
    assert directory_version(tmp_path) != v
    (tmp_path / "pose" / "other.keras").rename(tmp_path / "pose" / "model.keras")
    (tmp_path / "metrics.json").write_text("")
    assert directory_version(tmp_path) != v


# --- training smoke test -------------------------------------------------------------------------------------


def test_pose_net_trains():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rand(64, 64, 64, 3)
    joints = np.concatenate([rng.uniform(4, 60, (64, 16, 2)), np.ones((64, 16, 1))], axis=-1)
    targets = joints_to_heatmaps(joints, (64, 64), (32, 32), sigma=1.0)
    net = build_pose_net()
    trainable = keras.Model(net.input, net.get_layer("heatmaps").output)  # the features train through the head
    trainable.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    history = trainable.fit(images, targets, batch_size=16, epochs=2, verbose=0).history
    assert history["loss"][1] < history["loss"][0]
    assert np.isfinite(history["loss"]).all()


def test_am_softmax_loss_by_hand():
    cos = np.array([[0.8, 0.1, -0.2], [0.3, 0.5, 0.0]], np.float32)
    y = np.array([0, 1])
    got = am_softmax_loss(0.35, 16.0)(tf.constant(y), tf.constant(cos)).numpy()
    want = []
    for row, label in zip(cos, y, strict=True):
        z = 16.0 * (row - 0.35 * (np.arange(3) == label))
        want.append(np.log(np.exp(z).sum()) - z[label])
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_cosine_head_gives_cosines_and_reloads(tmp_path):
    inputs = keras.Input(shape=(5,))
    model = keras.Model(inputs, CosineDense(3, name="probs")(inputs))
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    out = model.predict(x, verbose=0)
    w = model.get_layer("probs").kernel.numpy()
    want = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (w / np.linalg.norm(w, axis=0, keepdims=True))
    np.testing.assert_allclose(out, want, atol=1e-5)
    save_model(model, tmp_path / "m.keras")
    np.testing.assert_allclose(load_model(tmp_path / "m.keras").predict(x, verbose=0), out, atol=1e-6)


def test_branches_are_independent_gait_nets_side_by_side():
    net = build_gait_net((8, 8, 16), branches=2, **SMALL_GAIT)
    assert net.output_shape == (None, 32)
    x = rand(3, 4, 8, 8, 16, seed=5)
    emb = net.predict(x, verbose=0)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    # Each half is one branch's own unit vector (scaled by 1/√2), computed by weights of its own.
    for i, half in enumerate((emb[:, :16], emb[:, 16:])):
        branch = keras.Model(net.input, net.get_layer(f"embedding_b{i + 1}").output)
        np.testing.assert_allclose(half * np.sqrt(2), branch.predict(x, verbose=0), atol=1e-5)
    b1 = {id(w) for w in net.get_layer("per_frame_b1").weights + net.get_layer("lstm1_b1").weights}
    b2 = {id(w) for w in net.get_layer("per_frame_b2").weights + net.get_layer("lstm1_b2").weights}
    assert b1 and b1.isdisjoint(b2)
    assert not np.allclose(emb[:, :16], emb[:, 16:])  # initialised apart


def test_branch_heads_each_get_the_margin_loss(tmp_path):
    net = build_gait_net((8, 8, 16), branches=2, **SMALL_GAIT)
    clf = build_gait_classifier(net, num_classes=5, dropout=0.0, margin=0.35, branches=2)
    x, y = rand(4, 3, 8, 8, 16, seed=6), np.array([0, 1, 2, 4])
    cos = clf.predict(x, verbose=0)
    assert cos.shape == (4, 2, 5)
    emb = net.predict(x, verbose=0).reshape(4, 2, 16)
    w = clf.get_layer("probs").kernel.numpy()  # [branches, D, classes]
    for b in range(2):
        e = emb[:, b] / np.linalg.norm(emb[:, b], axis=1, keepdims=True)
        np.testing.assert_allclose(cos[:, b], e @ (w[b] / np.linalg.norm(w[b], axis=0)), atol=1e-5)
    loss = am_softmax_loss(0.35)(tf.constant(y), tf.constant(cos)).numpy()
    per_branch = [am_softmax_loss(0.35)(tf.constant(y), tf.constant(cos[:, b])).numpy() for b in range(2)]
    np.testing.assert_allclose(loss, np.stack(per_branch, axis=1), rtol=1e-5)
    save_model(net, tmp_path / "g.keras")
    np.testing.assert_allclose(load_model(tmp_path / "g.keras").predict(x, verbose=0), emb.reshape(4, 32), atol=1e-6)
    with pytest.raises(ValueError, match="margin"):
        build_gait_classifier(net, num_classes=5, branches=2)
    with pytest.raises(ValueError, match="branches"):
        TrainConfig(branches=2)  # the default head is the plain softmax


def test_strided_gait_net_works_on_a_smaller_map(tmp_path):
    net = build_gait_net((8, 8, 16), stride=2, **SMALL_GAIT)
    encoder = net.get_layer("per_frame").layer
    assert encoder.get_layer("gait_in_elu").output_shape == (None, 4, 4, 32)  # 2×2 blocks, 2× the channels
    assert encoder.get_layer("flatten").output_shape == (None, 4 * 4 * 32)
    assert build_gait_net((8, 8, 16), **SMALL_GAIT).get_layer("per_frame").layer.get_layer(
        "gait_in_elu"
    ).output_shape == (None, 8, 8, 16)  # stride 1 is the network as it was
    x = rand(2, 3, 8, 8, 16, seed=7)
    emb = net.predict(x, verbose=0)
    assert emb.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    y = x.copy()
    y[..., 0::2, 0::2, :] += 0.25
    y[..., 1::2, 1::2, :] -= 0.25  # the block means stay, where in the block the response is moves
    assert not np.allclose(net.predict(y, verbose=0), emb, atol=1e-4)
    save_model(net, tmp_path / "s.keras")
    np.testing.assert_allclose(load_model(tmp_path / "s.keras").predict(x, verbose=0), emb, atol=1e-6)
    odd = build_gait_net((16, 11, 16), stride=2, **SMALL_GAIT)  # 64×44 crops: the last column padded
    assert odd.get_layer("per_frame").layer.get_layer("gait_in_elu").output_shape == (None, 8, 6, 32)
    with pytest.raises(ValueError, match="stride"):
        build_gait_net((8, 8, 16), stride=0, **SMALL_GAIT)
    with pytest.raises(ValueError, match="gait_stride"):
        TrainConfig(gait_stride=0)
