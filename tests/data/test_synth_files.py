"""The generator's files: deterministic, complete, consistent with their ground truth, safe to re-run."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.common.skeleton import JOINT_NAMES
from pipeline.synth import SynthConfig, generate_dataset
from pipeline.synth.generate import load_annotation

SMALL = SynthConfig(
    subjects=3,
    sequences={"nm": 2, "bg": 1, "cl": 1, "sh": 1},
    views=(18, 90),
    frames=14,
    width=80,
    height=64,
    output="both",
    silhouette_png=True,
    background_frames=4,
    seed=7,
)


@pytest.fixture(scope="module")
def small_ray(ray_local, tmp_path_factory) -> Path:
    """SMALL generated with Ray tasks."""
    out = tmp_path_factory.mktemp("synth") / "ray"
    generate_dataset(SMALL, out, parallel=True, progress=False)
    return out


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_identical_files_with_or_without_ray(small_ray, tmp_path):
    local = tmp_path / "local"
    generate_dataset(SMALL, local, parallel=False, progress=False)
    files = _tree(small_ray)
    assert files == _tree(local)
    _, mismatch, errors = filecmp.cmpfiles(small_ray, local, files, shallow=False)
    assert mismatch == [] and errors == []


def test_another_seed_gives_other_videos(small_ray, tmp_path):
    other = tmp_path / "seed8"
    generate_dataset(SMALL.with_changes(seed=8, subjects=1), other, parallel=False, progress=False)
    a = (small_ray / "videos/001-nm-01-090.mp4").read_bytes()
    b = (other / "videos/001-nm-01-090.mp4").read_bytes()
    assert a != b


def test_documented_tree_and_manifest(small_ray):
    meta = json.loads((small_ray / "dataset.json").read_text())
    assert meta["format"] == "gait-synth" and meta["format_version"] == 1
    assert meta["joint_names"] == list(JOINT_NAMES) and len(JOINT_NAMES) == 16
    walks = 3 * (2 + 1 + 1 + 1) * 2
    assert meta["counts"] == {"subjects": 3, "sequences": walks, "background_clips": 6, "frames": walks * 14 + 6 * 4}
    assert len(meta["sequences"]) == walks + 6
    for e in meta["sequences"]:
        stem = e["id"]
        assert (small_ray / "videos" / f"{stem}.mp4").is_file()
        frames = small_ray / e["frames"]
        assert frames.is_dir()
        if e["condition"] == "bkgrd":
            assert stem.split("-")[1] == "bkgrd"
            continue
        subject, cond, seq, view = stem.split("-")
        assert frames == small_ray / "frames" / subject / f"{cond}-{seq}" / view
        assert (small_ray / "silhouettes" / subject / f"{cond}-{seq}" / view / f"{stem}-001.png").is_file()
        ann = json.loads((small_ray / "annotations" / f"{stem}.json").read_text())
        assert ann["subject"] == subject and ann["condition"] == cond and ann["view"] == int(view)
        assert set(ann["gait"]) >= {"height", "cadence", "hip_amp", "arm_swing", "knee_swing", "asym_phase"}
    assert not list(small_ray.parent.glob(".ray.*")), "no staging directory is left behind"


def test_videos_read_back_with_opencv(small_ray):
    for video in sorted((small_ray / "videos").glob("*.mp4")):
        cap = cv2.VideoCapture(str(video))
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            assert frame.shape == (64, 80, 3)
            n += 1
        cap.release()
        assert n == (4 if "bkgrd" in video.name else 14), video.name


def test_frame_folders_match_the_videos(small_ray):
    stem = "002-bg-01-018"
    pngs = sorted((small_ray / "frames/002/bg-01/018").glob("*.png"))
    assert [p.name for p in pngs] == [f"{stem}-{i:03d}.png" for i in range(1, 15)]
    cap = cv2.VideoCapture(str(small_ray / "videos" / f"{stem}.mp4"))
    decoded = []
    while (frame := cap.read()[1]) is not None:
        decoded.append(frame.astype(int))
    assert len(decoded) == len(pngs)
    # mp4v is lossy, so compare loosely: each PNG is nearest to the video frame of the same index.
    for i in (0, 7, 13):
        png = cv2.imread(str(pngs[i])).astype(int)
        errors = [np.abs(png - d).mean() for d in decoded]
        assert int(np.argmin(errors)) == i and errors[i] < 10


def test_ground_truth_is_consistent(small_ray):
    meta = json.loads((small_ray / "dataset.json").read_text())
    checked = 0
    for e in meta["sequences"]:
        ann = load_annotation(small_ray, e["id"])
        joints, boxes, sil = ann["joints"], ann["boxes"], ann["silhouettes"]
        if e["condition"] == "bkgrd":
            assert not sil.any() and np.isnan(boxes).all()
            continue
        assert joints.shape == (14, 16, 3) and boxes.shape == (14, 4) and sil.shape == (14, 64, 80)
        for t in range(14):
            ys, xs = np.nonzero(sil[t])
            if len(xs) == 0:
                assert np.isnan(boxes[t]).all()
                continue
            # The box is the silhouette's bounding box.
            np.testing.assert_array_equal(boxes[t], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            for x, y, vis in joints[t]:
                inside_frame = 0 <= x <= 79 and 0 <= y <= 63
                assert bool(vis) == inside_frame
                if not vis:
                    continue
                assert boxes[t, 0] - 1 <= x <= boxes[t, 2] + 1 and boxes[t, 1] - 1 <= y <= boxes[t, 3] + 1
                xi, yi = int(round(x)), int(round(y))
                patch = sil[t, max(0, yi - 1) : yi + 2, max(0, xi - 1) : xi + 2]
                assert patch.any(), f"{e['id']} frame {t}: visible joint ({x:.1f}, {y:.1f}) off the silhouette"
                checked += 1
    assert checked > 1000


def test_rerun_with_same_config_reuses_and_other_config_refuses(small_ray):
    again = generate_dataset(SMALL, small_ray, parallel=False, progress=False)
    assert again.generated == 0 and again.sequences == 30
    with pytest.raises(FileExistsError, match="--overwrite"):
        generate_dataset(SMALL.with_changes(frames=10), small_ray, parallel=False, progress=False)


def test_overwrite_swaps_in_and_interrupted_run_resumes(tmp_path):
    cfg = SMALL.with_changes(
        subjects=1, sequences={"nm": 1, "bg": 1}, views=(90,), output="video", silhouette_png=False, background_frames=0
    )
    out = tmp_path / "data"
    generate_dataset(cfg, out, parallel=False, progress=False)
    other = cfg.with_changes(frames=8)
    # An interrupted run of `other`: its staging holds one finished sequence and a stray temp file.
    staging = tmp_path / ".data.partial"
    generate_dataset(other.with_changes(sequences={"nm": 1}), tmp_path / "scratch", parallel=False, progress=False)
    staging.mkdir()
    (staging / "_config.json").write_text(json.dumps({"hash": other.hash()}))
    (staging / "annotations").mkdir()
    (staging / "videos").mkdir()
    for f in ("annotations/001-nm-01-090.json", "annotations/001-nm-01-090.npz", "videos/001-nm-01-090.mp4"):
        (staging / f).write_bytes((tmp_path / "scratch" / f).read_bytes())
    summary = generate_dataset(other, out, parallel=False, progress=False, overwrite=True)
    assert summary.generated == 1  # only bg was left to do
    assert json.loads((out / "dataset.json").read_text())["config"]["frames"] == 8
    assert not staging.exists()
    cap = cv2.VideoCapture(str(out / "videos/001-bg-01-090.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8


def test_refuses_a_foreign_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        generate_dataset(SMALL, tmp_path, parallel=False, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_casia_a_layout(tmp_path):
    cfg = SynthConfig(
        subjects=2,
        sequences={"nm": 2},
        views=(0, 45, 90),
        frames=6,
        width=88,
        height=60,
        layout="casia-a",
        output="frames",
        background_frames=0,
    )
    generate_dataset(cfg, tmp_path / "a", parallel=False, progress=False)
    folder = tmp_path / "a/gaitdb/p002/45_2"
    assert sorted(p.name for p in folder.iterdir()) == [f"p002-45_2-{i:03d}.png" for i in range(1, 7)]
    assert cv2.imread(str(folder / "p002-45_2-001.png")).shape == (60, 88, 3)
    assert load_annotation(tmp_path / "a", "p002-45_2")["joints"].shape == (6, 16, 3)
