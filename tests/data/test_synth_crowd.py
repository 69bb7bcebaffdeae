"""Multi-walker scenes: the truth agrees with the pixels, walkers hide each other and come and go, the camera
modes move the view as they say, and `gait synth --walkers` writes files that discovery reads as footage."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pipeline.cli import main
from pipeline.common.skeleton import J
from pipeline.ingest.layouts import discover
from pipeline.synth.crowd import build_crowd_scene, camera_path, lighting, make_crowd_scene, plan_walkers, render_crowd
from pipeline.synth.crowd_dataset import load_crowd_truth, read_video

W, H, T, SEED = 160, 120, 120, 4


def _scene(camera: str, empty: bool = False, lighting_mode: str = "steady") -> tuple:
    """make_crowd_scene's steps by hand, so that the same view can be rendered with nobody in it."""
    span = W // 2 if camera == "pan" else 0
    scene = build_crowd_scene(SEED, 1, W, H, span)
    rng = np.random.default_rng(0)
    drawings, _ = plan_walkers(rng, scene, 3, T, 25.0, seed=SEED, subjects=10, jitter=0.3)
    shift = camera_path(camera, rng, T, W, scene.margin, span)
    gain = lighting(lighting_mode, rng, T)
    out = render_crowd(scene, [] if empty else drawings, shift, gain, np.ones(3), 2.0, (W, H), rng)
    return out, drawings, shift, gain


@pytest.fixture(scope="module")
def still():
    (frames, boxes, visible_boxes, visibility, labels), drawings, shift, _ = _scene("still")
    empty = _scene("still", empty=True)[0][0]
    return frames, boxes, visible_boxes, visibility, labels, drawings, shift, empty


def test_boxes_hold_the_walkers_pixels_and_nothing_else_is_drawn(still):
    frames, boxes, visible_boxes, visibility, labels, _, _, empty = still
    assert frames.shape == (T, H, W, 3) and boxes.shape == (T, 3, 4) and labels.shape == (T, H, W)
    diff = np.abs(frames.astype(int) - empty.astype(int)).max(-1)
    for t in range(0, T, 7):
        anywhere = np.zeros((H, W), bool)
        for k in range(3):
            ys, xs = np.nonzero(labels[t] == k + 1)
            if visibility[t, k] == 0:
                assert xs.size == 0
                continue
            for b in (boxes[t, k], visible_boxes[t, k]):
                assert b[0] <= xs.min() and xs.max() < b[2] and b[1] <= ys.min() and ys.max() < b[3]
                assert 0 <= b[0] < b[2] <= W and 0 <= b[1] < b[3] <= H
            vb, fb = visible_boxes[t, k], boxes[t, k]
            assert fb[0] <= vb[0] and fb[1] <= vb[1] and vb[2] <= fb[2] and vb[3] <= fb[3]
            assert diff[t, ys, xs].mean() > 10  # the walker is really drawn there
            x0, y0, x1, y1 = fb.astype(int)
            anywhere[max(y0 - 2, 0) : y1 + 2, max(x0 - 2, 0) : x1 + 2] = True
        assert diff[t][~anywhere].max() == 0  # outside every box: the empty scene, pixel for pixel


def test_nearer_walker_hides_the_farther_one(still):
    _, boxes, _, visibility, labels, drawings, _, _ = still
    crossing, hidden = [], 0
    for t in range(T):
        for b in range(3):
            bb = boxes[t, b]
            if np.isnan(bb[0]) or not (bb[0] > 0 and bb[1] > 0 and bb[2] < W and bb[3] < H):
                continue  # only walkers wholly inside the frame: then only a nearer walker can hide them
            nearer = [a for a in range(3) if a != b and drawings[a].depth(t) < drawings[b].depth(t)]
            x0, y0, x1, y1 = bb.astype(int)
            in_box = labels[t, y0:y1, x0:x1]
            if visibility[t, b] < 1:  # hidden: by a nearer walker's pixels, inside b's box
                assert any((in_box == a + 1).any() for a in nearer)
                hidden += 1
            for a in nearer:
                ba = boxes[t, a]
                if not np.isnan(ba[0]) and min(ba[2], bb[2]) - max(ba[0], bb[0]) > 0.6 * (bb[2] - bb[0]):
                    crossing.append(visibility[t, b])
    assert crossing, "the walkers never cross"
    assert hidden > 0 and min(crossing) < 0.7


def test_walkers_enter_and_leave_with_nan_boxes_out_of_view(still):
    _, boxes, _, visibility, _, drawings, shift, _ = still
    absent = np.isnan(boxes[..., 0])
    assert absent.any(0).sum() >= 2 and (~absent).all(0).sum() < 3  # some walkers come and go
    assert np.isnan(boxes[absent]).all() and (visibility[absent] == 0).all()
    for k in range(3):
        x = drawings[k].uv_j[:, J["pelvis"], 0] - shift[:, 0]
        assert ((x[absent[:, k]] < 0) | (x[absent[:, k]] > W)).all()
        assert (np.diff(absent[:, k].astype(int)) != 0).sum() <= 2  # one stay in view each: no flicker


def test_pan_slides_the_background_and_shake_jitters_it():
    (frames, *_), _, shift, _ = _scene("pan", empty=True)  # the background alone
    step = np.abs(np.diff(shift[:, 0]))
    assert shift[:, 0].max() - shift[:, 0].min() > 60 and 0.5 < np.median(step) < 3
    a, b = (np.float32(cv2.cvtColor(frames[t], cv2.COLOR_BGR2GRAY)) for t in (0, 10))
    (dx, dy), _ = cv2.phaseCorrelate(a, b)
    assert dx == pytest.approx(-(shift[10, 0] - shift[0, 0]), abs=1.0) and abs(dy) < 1.0
    shake = camera_path("shake", np.random.default_rng(1), 200, 320, 18, 0)
    assert shake.std(0).min() > 1.5 and np.abs(shake).max() < 18
    still_path = camera_path("still", np.random.default_rng(1), 200, 320, 18, 0)
    assert not still_path.any()


def test_changing_lighting_steps():
    gain = lighting("changing", np.random.default_rng(2), 300)
    ratio = gain[1:] / gain[:-1]
    assert (np.abs(ratio - 1) > 0.15).sum() == 1  # one sudden step
    assert np.ptp(gain) > 0.1 and np.ptp(lighting("steady", np.random.default_rng(2), 300)) == 0


def test_cameras_film_the_same_people_on_the_same_paths():
    kw = dict(seed=1, number=2, lighting_mode="steady", n_walkers=2, n_frames=8, width=96, height=72, fps=25.0)
    a = make_crowd_scene(camera="still", subjects=9, jitter=0.3, **kw)
    b = make_crowd_scene(camera="pan", subjects=9, jitter=0.3, **kw)
    assert a.subjects.tolist() == b.subjects.tolist() and len(set(a.subjects.tolist())) == 2
    assert [w["depth_m"] for w in a.walkers] == [w["depth_m"] for w in b.walkers]


def test_cli_writes_scenes_that_discovery_reads_as_footage(tmp_path, capsys):
    out = tmp_path / "crowd"
    argv = ["synth", str(out), "--walkers", "2-3", "--camera", "still,pan", "--scenes", "1", "--frames", "12"]
    assert main([*argv, "--size", "96x72", "--lighting", "changing", "--seed", "3", "--no-ray", "--quiet"]) == 0
    assert "multi-walker scenes" in capsys.readouterr().out
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["format"] == "gait-synth-crowd" and [s["id"] for s in meta["scenes"]] == ["still-01", "pan-01"]
    for name in ("still-01", "pan-01"):
        truth = load_crowd_truth(out, name)
        n = truth["subjects"].shape[0]
        assert 2 <= n <= 3 and truth["boxes"].shape == (12, n, 4) and truth["visibility"].shape == (12, n)
        assert truth["camera"] == name.split("-")[0] and truth["fps"] == 25.0 and truth["labels"].shape == (12, 72, 96)
        assert truth["meta"]["lighting"] == "changing" and len(truth["meta"]["walkers"]) == n
        assert len(read_video(out / f"{name}.mp4")) == 12
    records, errors = discover(out)
    assert errors == [] and len(records) == 2
    assert {r.layout for r in records} == {"generic"} and all(r.subject is None and r.view is None for r in records)
    # The single-walker options are refused, and the scene options need --walkers.
    with pytest.raises(SystemExit, match="do not apply"):
        main(["synth", str(tmp_path / "x"), "--walkers", "2", "--views", "90"])
    with pytest.raises(SystemExit, match="add --walkers"):
        main(["synth", str(tmp_path / "x"), "--camera", "pan"])
