"""The per-sequence steps on their own: windows, crops, silhouette alignment, box smoothing, person finding."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.ingest.clips import Windower, pad_to, window_starts
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.crop import align_silhouette, crop_region, crop_resize, joints_to_crop
from pipeline.ingest.decode import load_truth, video_frames
from pipeline.ingest.errors import IngestError, Outcome
from pipeline.ingest.person import BackgroundSubtractor, smooth_boxes
from pipeline.ingest.sequence import SequenceProcessor


@pytest.mark.parametrize(("n", "expected"), [(24, [0]), (10, [0]), (36, [0, 12]), (40, [0, 12, 16]), (48, [0, 12, 24])])
def test_window_starts_cover_the_sequence(n, expected):
    assert window_starts(n, 24, 12) == expected


@pytest.mark.parametrize("n", [8, 24, 25, 36, 40, 61, 100])
def test_streaming_windower_matches_window_starts(n):
    w = Windower(24, 12)
    starts = []
    for i in range(n):
        starts += [s for s, _ in w.push(i)]  # type: ignore[arg-type]
    tail, padded = w.finish(n, 8)
    starts += [s for s, _ in tail]
    assert starts == window_starts(n, 24, 12)
    assert padded == max(0, 24 - n)
    assert len(w.buf) <= 24 + 12


def test_windower_rejects_too_short():
    w = Windower(24, 12)
    for i in range(3):
        w.push(i)  # type: ignore[arg-type]
    with pytest.raises(IngestError, match="fewer than min_frames=8"):
        w.finish(3, 8)


def test_pad_repeats_the_last_frame():
    a = np.arange(3)[:, None]
    np.testing.assert_array_equal(pad_to(a, 5).ravel(), [0, 1, 2, 2, 2])


def test_crop_keeps_aspect_and_pads_outside_the_frame():
    frame = np.full((100, 200, 3), 200, np.uint8)
    region = crop_region(np.array([180, 10, 220, 90]), aspect=1.0, margin=0.1)
    np.testing.assert_allclose(region, [152, 2, 248, 98])
    crop = crop_resize(frame, region, (32, 32))
    assert crop.shape == (32, 32, 3)
    assert crop[:, :8].min() == 200 and crop[:, -8:].max() == 0  # the right part lies outside the frame


def test_joints_follow_the_crop():
    region = np.array([10, 20, 74, 84], np.float32)  # 64 px square → 32 px: scale 0.5
    joints = np.array([[10 - 0.5 + 32, 20 - 0.5 + 32, 1], [0, 0, 1], [50, 40, 0]], np.float32)
    out = joints_to_crop(joints, region, (32, 32))
    np.testing.assert_allclose(out[0], [15.5, 15.5, 1])
    assert out[1, 2] == 0  # left the crop
    assert out[2, 2] == 0  # was not visible


def test_silhouette_alignment_centres_and_scales():
    mask = np.zeros((120, 160), np.uint8)
    mask[30:90, 100:120] = 255  # a 20x60 bar off to the right
    out = align_silhouette(mask, (44, 64))
    assert out.shape == (64, 44)
    rows = np.flatnonzero(out.any(axis=1))
    assert rows[0] == 0 and rows[-1] == 63  # scaled to the full height
    cols = np.flatnonzero(out.any(axis=0))
    assert abs((cols[0] + cols[-1]) / 2 - 21.5) <= 1.0  # centred
    assert not align_silhouette(np.zeros((50, 50), np.uint8), (44, 64)).any()


def test_smoothing_fills_gaps_and_damps_jitter():
    boxes = np.array([[10, 10, 20, 40]] * 10, np.float32)
    boxes[3] = np.nan
    boxes[5] += 6
    out = smooth_boxes(boxes, 5)
    assert not np.isnan(out).any()
    assert abs(out[5, 0] - 10) < 3


def test_background_subtraction_finds_the_walker(tiny_synth):
    ious = []
    for stem in ("001-nm-01-090", "002-cl-01-054", "003-bg-01-090"):
        frames = list(video_frames(str(tiny_synth / "videos" / f"{stem}.mp4"), 10**9))
        truth = load_truth(str(tiny_synth / "annotations" / f"{stem}.npz"))["boxes"]
        bs = BackgroundSubtractor.from_frames(frames)
        for f, t in zip(frames, truth, strict=True):
            box, _ = bs.person(f)
            if box is None or np.isnan(t).any():
                continue
            ix = max(0, min(box[2], t[2]) - max(box[0], t[0])) * max(0, min(box[3], t[3]) - max(box[1], t[1]))
            union = (box[2] - box[0]) * (box[3] - box[1]) + (t[2] - t[0]) * (t[3] - t[1]) - ix
            ious.append(ix / union)
    assert len(ious) > 40 and np.median(ious) > 0.75


def _record(tiny, stem: str, **extra) -> dict:
    return {
        "sequence_id": stem,
        "source": str(tiny / "videos" / f"{stem}.mp4"),
        "kind": "video",
        "layout": "synthetic",
        "subject": stem[:3],
        "condition": stem[4:6],
        "sequence": 1,
        "view": int(stem[-3:]),
        "split": "train",
        **extra,
    }


def test_tracking_follows_the_one_walker_of_a_labelled_walk(tiny_synth):
    """A labelled synthetic walk is one person: its best track keeps the walk's id (tests/data/test_tracks.py
    has several people; HOG, which finds these small drawn people in a third of the frames, is tested on real
    footage in tests/data/test_detectors.py)."""
    cfg = PreprocessConfig(width=32, height=48, clip_len=8, stride=4, min_frames=6, detector="background")
    stem = "002-nm-02-090"
    rec = _record(tiny_synth, stem)
    outcome = Outcome(stem, rec["source"])
    batches = list(SequenceProcessor(cfg, "h", with_joints=False).clips(rec, outcome))
    assert outcome.frames == 20 and outcome.clips == sum(len(b["clip_index"]) for b in batches) >= 2
    assert {str(s) for b in batches for s in b["sequence_id"]} == {rec["sequence_id"]}
    kept = [t for t in outcome.tracks if t["dropped"] is None]
    assert len(kept) == 1 and kept[0]["frames"] >= 15
    b = batches[0]
    assert b["frames"].shape[1:] == (8, 48, 32, 3) and b["silhouettes"].shape[1:] == (8, 48, 32)
    assert 0.08 < (b["silhouettes"] > 0).mean() < 0.7


def test_sequence_processor_gives_fixed_shape_clips(tiny_synth):
    cfg = PreprocessConfig(width=32, height=48, clip_len=8, stride=4, detector="truth")
    stem = "002-nm-02-090"
    rec = _record(tiny_synth, stem, annotation=str(tiny_synth / "annotations" / f"{stem}.npz"))
    outcome = Outcome(stem, rec["source"])
    batches = list(SequenceProcessor(cfg, "h", with_joints=True).clips(rec, outcome))
    clips = sum(len(b["clip_index"]) for b in batches)
    assert clips == len(window_starts(20, 8, 4)) == outcome.clips and outcome.frames == 20
    b = batches[0]
    assert b["frames"].shape[1:] == (8, 48, 32, 3) and b["frames"].dtype == np.uint8
    assert b["silhouettes"].shape[1:] == (8, 48, 32) and b["joints"].shape[1:] == (8, 16, 3)
    assert list(b["frame_start"][:3]) == [0, 4, 8]
    # The crop holds the person: the silhouette covers a fair part of it, and visible joints sit inside it.
    assert 0.08 < (b["silhouettes"] > 0).mean() < 0.7
    vis = b["joints"][..., 2] > 0
    assert vis.mean() > 0.8
    assert b["joints"][..., 0][vis].min() >= 0 and b["joints"][..., 0][vis].max() <= 31


def test_frames_are_rgb_crops_of_the_smoothed_box(tiny_synth):
    stem = "001-nm-01-090"
    rec = _record(tiny_synth, stem, annotation=str(tiny_synth / "annotations" / f"{stem}.npz"))
    cfg = PreprocessConfig(width=32, height=32, clip_len=4, stride=4, min_frames=4)
    batch = next(SequenceProcessor(cfg, "h", with_joints=False).clips(rec, Outcome(stem, "")))
    bgr = next(video_frames(rec["source"], 10**9))
    expected = crop_resize(bgr, crop_region(batch["boxes"][0, 0], 1.0, cfg.margin), (32, 32))
    np.testing.assert_array_equal(batch["frames"][0, 0], expected[..., ::-1])
