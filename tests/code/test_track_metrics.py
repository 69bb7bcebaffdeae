"""`score_tracks` on hand-made tracks: the figures motmetrics' definitions give, and the ignored low-visibility
ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.track.metrics import match_events, score_tracks, summarise
from pipeline.track.tracker import Track

T = 20


def _truth(n_people: int = 2) -> dict[str, np.ndarray]:
    """People walking right, 40 px apart, visible in every frame."""
    boxes = np.full((T, n_people, 4), np.nan)
    for t in range(T):
        for k in range(n_people):
            x = 10 + 2 * t + 40 * k
            boxes[t, k] = (x, 20, x + 20, 80)
    return {"boxes": boxes, "visibility": np.ones((T, n_people))}


def _track(track_id: int, frames: range, boxes: np.ndarray) -> Track:
    return Track(track_id, list(frames), [np.asarray(b, np.float32) for b in boxes], [True] * len(frames))


def _perfect(truth: dict[str, np.ndarray]) -> list[Track]:
    return [_track(100 + k, range(T), truth["boxes"][:, k]) for k in range(truth["boxes"].shape[1])]


def test_perfect_tracks_score_one():
    truth = _truth()
    s = score_tracks(truth, _perfect(truth))
    assert s["mota"] == 1.0 and s["idf1"] == 1.0
    assert s["id_switches"] == 0 and s["precision"] == 1.0 and s["recall"] == 1.0
    assert (s["num_frames"], s["num_gt_ids"], s["num_tracks"], s["num_objects"]) == (T, 2, 2, 2 * T)


def test_small_box_errors_within_the_iou_threshold_still_match():
    truth = _truth()
    tracks = [_track(k, range(T), truth["boxes"][:, k] + [2, -2, 2, 2]) for k in range(2)]
    s = score_tracks(truth, tracks)
    assert s["mota"] == 1.0 and s["idf1"] == 1.0 and s["motp"] > 0


def test_identity_swap_halfway_counts_switches_and_lowers_idf1():
    truth = _truth()
    b = truth["boxes"]
    half = T // 2
    # Track 1 follows person 0, then person 1; track 2 the other way round.
    tracks = [
        _track(1, range(T), np.concatenate([b[:half, 0], b[half:, 1]])),
        _track(2, range(T), np.concatenate([b[:half, 1], b[half:, 0]])),
    ]
    s = score_tracks(truth, tracks)
    assert s["id_switches"] == 2
    assert s["idf1"] == pytest.approx(0.5)  # each person is matched to one track for half the frames
    assert s["mota"] == pytest.approx(1 - 2 / (2 * T))
    assert s["recall"] == 1.0 and s["precision"] == 1.0
    events = match_events(truth, tracks).reset_index()
    switches = events[events["Type"] == "SWITCH"]
    assert sorted(switches["FrameId"]) == [half, half] and sorted(switches["OId"]) == [0, 1]


def test_missing_track_lowers_mota_by_its_share_of_the_truth():
    truth = _truth(3)
    s = score_tracks(truth, _perfect(truth)[:2])
    assert s["num_misses"] == T
    assert s["mota"] == pytest.approx(1 - T / (3 * T))
    assert s["recall"] == pytest.approx(2 / 3) and s["precision"] == 1.0
    assert s["idf1"] == pytest.approx(2 * 2 * T / (3 * T + 2 * T))


def test_false_track_is_a_false_positive():
    truth = _truth(1)
    ghost = _track(9, range(T), np.tile([200.0, 20, 220, 80], (T, 1)))
    s = score_tracks(truth, [*_perfect(truth), ghost])
    assert s["num_false_positives"] == T and s["mota"] == pytest.approx(0.0) and s["precision"] == 0.5


def test_low_visibility_truth_is_ignored_not_missed_nor_a_false_positive():
    truth = _truth()
    occluded = slice(5, 12)
    truth["visibility"][occluded, 1] = 0.2
    # A tracker that follows person 1 through the occlusion: its boxes there are neither hits nor false positives.
    s = score_tracks(truth, _perfect(truth))
    assert s["mota"] == 1.0 and s["idf1"] == 1.0 and s["num_false_positives"] == 0
    assert s["ignored_gt_boxes"] == 7 and s["ignored_track_boxes"] == 7 and s["num_objects"] == 2 * T - 7
    # A tracker that loses person 1 there is not counted as missing them.
    lost = _perfect(truth)
    keep = [i for i, f in enumerate(lost[1].frames) if not 5 <= f < 12]
    lost[1] = Track(lost[1].track_id, [lost[1].frames[i] for i in keep], [lost[1].boxes[i] for i in keep], [True] * 13)
    s = score_tracks(truth, lost)
    assert s["mota"] == 1.0 and s["num_misses"] == 0 and s["recall"] == 1.0
    # With the threshold at 0 every box counts: then the lost frames are misses.
    s = score_tracks(truth, lost, min_visibility=0.0)
    assert s["num_misses"] == 7 and s["ignored_gt_boxes"] == 0


def test_absent_people_and_tracks_outside_the_clip_are_not_counted():
    truth = _truth()
    truth["boxes"][:5, 1] = np.nan  # person 1 enters at frame 5
    tracks = _perfect(truth)
    tracks[1] = _track(101, range(5, T), truth["boxes"][5:, 1])
    tracks.append(_track(7, range(T, T + 3), np.tile([0.0, 0, 10, 10], (3, 1))))  # after the last frame
    s = score_tracks(truth, tracks)
    assert s["mota"] == 1.0 and s["num_objects"] == 2 * T - 5


def test_summary_over_scenes_recomputes_from_counts():
    truth = _truth()
    perfect = score_tracks(truth, _perfect(truth))
    half = score_tracks(truth, _perfect(truth)[:1])
    total = summarise([perfect, half])
    assert total["num_objects"] == 4 * T and total["num_misses"] == T
    assert total["mota"] == pytest.approx(0.75) and total["recall"] == pytest.approx(0.75)
    assert total["idf1"] == pytest.approx(2 * 3 * T / (4 * T + 3 * T))
