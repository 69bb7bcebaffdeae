"""`gait pose`: a pose network trained here for a few seconds, run through the tool on a video and an image."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.cli import pose as cli
from pipeline.common.skeleton import JOINT_NAMES
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.crop import crop_region, joints_to_crop
from pipeline.ingest.decode import load_truth, video_frames
from pipeline.ingest.errors import Outcome
from pipeline.ingest.sequence import SequenceProcessor
from pipeline.pose.draw import LEFT, RIGHT, draw_skeleton
from pipeline.pose.estimate import estimate_pose, joints_from_crop
from pipeline.synth import SynthConfig, generate_dataset

SYNTH = SynthConfig(
    subjects=2, sequences={"nm": 2}, views=(90,), frames=24, width=96, height=96, background_frames=0, seed=5
)
SIZE = (32, 32)
STEM = "001-nm-01-090"


@pytest.fixture(scope="module")
def walks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pose-tool") / "synth"
    generate_dataset(SYNTH, out, parallel=False, progress=False)
    return out


def _crops(walks: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of every walk, cropped as preprocessing crops them, with its joints in crop pixels."""
    cfg = PreprocessConfig(width=32, height=32, clip_len=8, stride=8, min_frames=4, detector="truth", silhouettes=False)
    proc = SequenceProcessor(cfg, "test", with_joints=True)
    frames, joints = [], []
    for video in sorted((walks / "videos").glob("*.mp4")):
        rec = {"sequence_id": video.stem, "source": str(video), "kind": "video"}
        rec["annotation"] = str(walks / "annotations" / f"{video.stem}.npz")
        for batch in proc.clips(rec, Outcome(video.stem, str(video))):
            frames.append(batch["frames"].reshape(-1, *SIZE[::-1], 3))
            joints.append(batch["joints"].reshape(-1, 16, 3))
    return np.concatenate(frames), np.concatenate(joints)


@pytest.fixture(scope="module")
def model_dir(walks, tmp_path_factory) -> Path:
    """A model directory with only what the tool reads: pose/model.keras and config.json."""
    import tf_keras as keras

    from pipeline.models.heatmaps import joints_to_heatmaps
    from pipeline.models.io import save_model
    from pipeline.models.pose import build_pose_net

    frames, joints = _crops(walks)
    keras.utils.set_random_seed(0)
    net = build_pose_net(SIZE[::-1], "compact", 8)
    model = keras.Model(net.input, net.output["heatmaps"])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    targets = joints_to_heatmaps(joints, SIZE, (SIZE[0] // 2, SIZE[1] // 2))
    model.fit(frames.astype(np.float32) / 255.0, targets, batch_size=16, epochs=30, verbose=0)
    out = tmp_path_factory.mktemp("pose-model")
    save_model(net, out / "pose" / "model.keras")
    (out / "config.json").write_text(json.dumps({"input_size": list(SIZE)}))
    return out


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gait")
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["pose", *argv])
    return args.func(args)


def _read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (f := cap.read()[1]) is not None:
        frames.append(f)
    cap.release()
    return frames


@pytest.mark.parametrize("size", [(32, 32), (32, 48), (44, 64)])
def test_joints_from_crop_inverts_joints_to_crop(size):
    rng = np.random.default_rng(1)
    region = crop_region(np.array([-10.0, 5.0, 30.0, 90.0]), size[0] / size[1], 0.1)  # partly outside a frame
    joints = np.empty((16, 3), np.float32)
    joints[:, 0] = rng.uniform(region[0] + 1, region[2] - 1, 16)
    joints[:, 1] = rng.uniform(region[1] + 1, region[3] - 1, 16)
    joints[:, 2] = 1.0
    back = joints_from_crop(joints_to_crop(joints, region, size), region, size)
    np.testing.assert_allclose(back, joints, atol=1e-3)
    # Batched joints [N, 16, 3] too, confidences untouched.
    crop = np.stack([joints_to_crop(joints, region, size)] * 2)
    crop[..., 2] = 0.4
    back = joints_from_crop(crop, region, size)
    np.testing.assert_allclose(back[1, :, :2], joints[:, :2], atol=1e-3)
    assert (back[..., 2] == np.float32(0.4)).all()


def test_joints_land_on_the_person_in_frame_pixels(walks, model_dir):
    frames = list(video_frames(str(walks / "videos" / f"{STEM}.mp4"), 10**9))
    truth = load_truth(str(walks / "annotations" / f"{STEM}.npz"))
    results = estimate_pose(frames, model_dir, detector="background")
    assert len(results) == len(frames)
    ious, errors = [], []
    for r, frame, box, joints in zip(results, frames, truth["boxes"], truth["joints"], strict=True):
        assert r.box is not None and r.joints.shape == (16, 3)
        h, w = frame.shape[:2]
        assert (r.joints[:, 0] >= -0.5).all() and (r.joints[:, 0] <= w - 0.5).all()
        assert (r.joints[:, 1] >= -0.5).all() and (r.joints[:, 1] <= h - 0.5).all()
        ix = max(0, min(r.box[2], box[2]) - max(r.box[0], box[0])) * max(
            0, min(r.box[3], box[3]) - max(r.box[1], box[1])
        )
        area = (r.box[2] - r.box[0]) * (r.box[3] - r.box[1]) + (box[2] - box[0]) * (box[3] - box[1])
        ious.append(ix / (area - ix))
        seen = joints[:, 2] > 0
        errors.append(np.median(np.linalg.norm(r.joints[seen, :2] - joints[seen, :2], axis=1)) / (box[3] - box[1]))
    # The box found is the person's, and the joints sit on them: near the truth, in frame pixels.
    assert np.median(ious) > 0.6, ious
    assert np.median(errors) < 0.1, errors


def test_cli_on_a_video_draws_every_frame(walks, model_dir, tmp_path, capsys):
    out = tmp_path / "walk.pose.mp4"
    assert _run(str(walks / "videos" / f"{STEM}.mp4"), "--model", str(model_dir), "--out", str(out)) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == SYNTH.frames
    for i, line in enumerate(lines):
        assert line.startswith(f"{i} ") and all(f" {name}=(" in line for name in JOINT_NAMES)
    drawn = _read_video(out)
    assert len(drawn) == SYNTH.frames and drawn[0].shape == (SYNTH.height, SYNTH.width, 3)
    assert not list(tmp_path.glob(".*")), "no temporary file left beside the output"


def test_cli_on_an_image_writes_a_png_beside_it(walks, model_dir, tmp_path, capsys):
    frame = next(video_frames(str(walks / "videos" / f"{STEM}.mp4"), 10**9))
    image = tmp_path / "person.png"
    cv2.imwrite(str(image), frame)
    assert _run(str(image), "--model", str(model_dir), "--json", "--detector", "none") == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    row = json.loads(line)
    assert row["frame"] == 0 and row["box"] is None and set(row["joints"]) == set(JOINT_NAMES)
    drawn = cv2.imread(str(tmp_path / "person.pose.png"))
    assert drawn is not None and drawn.shape == frame.shape and (drawn != frame).any()


def test_draw_colours_sides_and_leaves_out_unsure_joints():
    frame = np.zeros((96, 96, 3), np.uint8)
    joints = np.zeros((16, 3), np.float32)
    joints[:, 0] = np.linspace(10, 86, 16)
    joints[:, 1] = np.linspace(10, 86, 16)[::-1]
    joints[:, 2] = 0.9
    drawn = draw_skeleton(frame, joints, box=np.array([5, 5, 90, 90]))
    colours = {tuple(int(c) for c in px) for px in drawn.reshape(-1, 3)}
    assert LEFT in colours and RIGHT in colours and not frame.any()
    joints[:, 2] = 0.05
    assert not draw_skeleton(frame, joints, min_confidence=0.1).any()


def test_missing_or_bad_input_is_a_clear_error(model_dir, tmp_path):
    missing = tmp_path / "nowhere" / "walk.mp4"
    with pytest.raises(SystemExit, match=str(missing)):
        _run(str(missing), "--model", str(model_dir))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(SystemExit, match="not a video"):
        _run(str(bad), "--model", str(model_dir))
    with pytest.raises(SystemExit, match="not a model directory"):
        _run(str(bad), "--model", str(tmp_path))
