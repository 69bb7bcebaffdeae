"""Footage → one sequence per person track (pipeline/ingest/tracks.py): several walkers, labelled and unlabeled
sources, short and low-quality tracks, a camera that moves too much; and `gait preprocess` end to end on them."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.identify.index import _clip_boxes
from pipeline.ingest.clips import FrameItem
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.decode import source_fps, video_header
from pipeline.ingest.errors import IngestError, Outcome
from pipeline.ingest.preprocess import preprocess
from pipeline.ingest.schema import row_frames
from pipeline.ingest.sequence import SequenceProcessor
from pipeline.ingest.tracks import PersonTrack, TrackCutter, _handed_on
from pipeline.serve.uploads import ClipMaker
from pipeline.track.detection import Detections
from pipeline.track.detectors import make_detector
from pipeline.track.tracker import PersonTracker, track_frames
from tests.data.conftest import read_frames, textured_background, walkers_video, write_video

CFG = PreprocessConfig(width=32, height=48, clip_len=8, stride=4, min_frames=6, detector="background")
TWO = [(10.0, 2.5, 120.0, 70.0), (230.0, -2.5, 160.0, 90.0)]  # crossing in the middle, the nearer one in front


def _record(path: Path, subject: str | None = None) -> dict:
    return {
        "sequence_id": "input-" + path.stem,
        "source": str(path),
        "kind": "video",
        "layout": "generic",
        "frames": None,
        "subject": subject,
        "condition": None,
        "sequence": None,
        "view": None,
        "modality": "rgb",
        "annotation": None,
        "background": None,
        "split": "test",
    }


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def two_walkers(tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("footage") / "two.avi"
    return path, walkers_video(path, TWO, frames=80)


def _run(rec: dict, cfg: PreprocessConfig = CFG) -> tuple[list[dict], Outcome]:
    outcome = Outcome(rec["sequence_id"], rec["source"])
    return list(SequenceProcessor(cfg, "h", with_joints=False).clips(rec, outcome)), outcome


def test_each_walker_becomes_a_sequence_of_their_own(two_walkers):
    path, truth = two_walkers
    batches, outcome = _run(_record(path))
    ids = {str(s) for b in batches for s in b["sequence_id"]}
    kept = [t for t in outcome.tracks if t["dropped"] is None]
    assert len(ids) == 2 == len(kept), outcome.tracks
    assert "input-two" not in ids and ids == {t["sequence_id"] for t in kept}
    assert outcome.clips == sum(len(b["clip_index"]) for b in batches) == sum(t["clips"] for t in kept)
    # Each sequence follows one walker: its boxes overlap that walker's true box, frame after frame.
    for sid in ids:
        rows = [
            (b["frame_start"][i], b["boxes"][i], b["num_frames"][i], b["track_id"][i])
            for b in batches
            for i in np.flatnonzero(b["sequence_id"] == sid)
        ]
        assert len({int(r[3]) for r in rows}) == 1
        ious = {w: [] for w in truth}
        for start, boxes, n, _ in rows:
            for t in range(int(n)):
                for w, tb in truth.items():
                    if tb[start + t] is not None:
                        ious[w].append(_iou(boxes[t], tb[start + t]))
        best = max(ious, key=lambda w: np.mean(ious[w]))
        assert np.median(ious[best]) > 0.5, (sid, {w: np.median(v) for w, v in ious.items()})
    b = batches[0]
    assert b["frames"].shape[1:] == (8, 48, 32, 3) and b["silhouettes"].shape[1:] == (8, 48, 32)
    assert (b["silhouettes"] > 0).mean() > 0.05  # the person's silhouette, not an empty crop


def test_someone_entering_where_another_just_left_is_a_sequence_of_their_own(tmp_path):
    """One walker leaves at the right edge; a second comes in there half a second later, walking back. A track
    that ended is not handed on to one that began where it left the view (never seen together): they stay two
    sequences, each one person's walk, not two people's walks under one identity."""
    path = tmp_path / "in-out.avi"
    truth = walkers_video(path, [(150.0, 4.0, 120.0, 70.0), (410.0, -4.0, 120.0, 70.0)], 80, spans=[(0, 30), (40, 80)])
    batches, outcome = _run(_record(path))
    held: dict[str, dict[int, np.ndarray]] = {}
    for b in batches:
        for i, sid in enumerate(b["sequence_id"]):
            for t, f in enumerate(row_frames(b, i)):
                held.setdefault(str(sid), {}).setdefault(int(f), b["boxes"][i, t])
    assert len(held) == 2, outcome.tracks
    for boxes in held.values():
        on = {w: sum(t[f] is not None and _iou(box, t[f]) > 0.3 for f, box in boxes.items()) for w, t in truth.items()}
        assert sorted(n > 0 for n in on.values()) == [False, True], on


def test_a_labelled_source_is_one_person_its_best_track(two_walkers):
    path, _ = two_walkers
    batches, outcome = _run(_record(path, subject="007"))
    assert {str(s) for b in batches for s in b["sequence_id"]} == {"input-two"}
    dropped = [t["dropped"] for t in outcome.tracks]
    assert dropped.count(None) == 1 and dropped.count("not_chosen") >= 1


def test_short_tracks_are_dropped_and_counted(tmp_path):
    # One walker crosses in view for the whole clip, another is seen for 6 frames only.
    path = tmp_path / "short.avi"
    walkers_video(path, [(10.0, 2.0, 120.0, 70.0), (200.0, -2.0, 170.0, 60.0)], frames=70, spans=[(0, 70), (60, 66)])
    batches, outcome = _run(_record(path), CFG.with_changes(min_frames=8))
    kept = [t for t in outcome.tracks if t["dropped"] is None]
    assert len(kept) == 1 and len({str(s) for b in batches for s in b["sequence_id"]}) == 1
    short = [t for t in outcome.tracks if t["dropped"] == "short"]
    assert short and all(t["frames"] < 8 for t in short)


def test_a_person_in_view_from_the_first_frame_is_tracked_from_it(two_walkers):
    path, truth = two_walkers
    tracks = track_frames(read_frames(path), make_detector("background"))
    firsts = sorted(t.first for t in tracks if len(t.frames) >= CFG.min_frames)
    assert firsts[:2] == [0, 0] and all(truth[w][0] is not None for w in truth)


def test_a_track_that_skips_frames_names_each_frame_it_holds(tmp_path):
    """A walker the tracker loses for a moment (not drawn in frames 40-45) keeps one track, and its clips skip
    those frames: `frame_index` names the source frame of every crop and box, so the boxes in the shards, in
    `POST /identify`'s answer and in the gallery's rows are where the person was in that very frame (counting
    from `frame_start` would put every box after the gap six frames early, 15 px off a 25 px wide walker)."""
    path = tmp_path / "gap.avi"
    truth = walkers_video(path, [(10.0, 2.5, 120.0, 70.0)], frames=80)[0]
    frames, hidden = read_frames(path), range(40, 46)
    for f in hidden:
        frames[f] = textured_background(240, 180)  # the scene without the walker (walkers_video's seed 0)
    write_video(path, frames)
    batches, outcome = _run(_record(path))
    assert [t["dropped"] for t in outcome.tracks].count(None) == 1, outcome.tracks
    held: dict[int, np.ndarray] = {}
    for b in batches:
        for i in range(len(b["sequence_id"])):
            for t, f in enumerate(row_frames(b, i)):
                held.setdefault(int(f), b["boxes"][i, t])
    assert not set(hidden) & set(held) and min(held) < 40 and max(held) > 45
    assert any(np.diff(fi).max() > 1 for b in batches for fi in b["frame_index"])  # a clip spans the gap
    ious = [_iou(box, truth[f]) for f, box in held.items()]
    assert min(ious) > 0.5, sorted(zip(ious, held, strict=True))[:5]
    # The consumers read the same frame numbers: an upload's answer and a gallery row's [frame, box] list.
    (walker,) = ClipMaker(CFG.to_dict(), "silhouettes")._walkers(_record(path))
    assert sorted(walker.boxes) == sorted(held)
    b = batches[0]
    row = {"frame_start": b["frame_start"][0], "num_frames": b["num_frames"][0]}
    row |= {"boxes": b["boxes"][0].tobytes(), "frame_index": b["frame_index"][0].tobytes()}
    assert _clip_boxes(row)[::5] == [float(f) for f in b["frame_index"][0][: b["num_frames"][0]]]


def test_an_upload_says_how_many_of_its_frames_were_not_read(two_walkers):
    """An upload is read up to its first `max_frames` (at most uploads.MAX_FRAMES): the people in the frames
    after them are not in the answer, so the answer says how many frames that was, for a video and for frames,
    and says 0 when the upload was read whole."""
    path, _ = two_walkers  # 80 frames
    capped = ClipMaker(CFG.with_changes(max_frames=50).to_dict(), "silhouettes")
    video = capped.walkers_from_video(path.read_bytes(), ".avi")
    frames = capped.walkers_from_images([cv2.imencode(".png", f)[1].tobytes() for f in read_frames(path)])
    whole = ClipMaker(CFG.to_dict(), "silhouettes").walkers_from_video(path.read_bytes(), ".avi")
    assert video and frames and whole
    assert {w.where()["frames_unread"] for w in video} == {w.where()["frames_unread"] for w in frames} == {30}
    assert all(max(w.boxes) < 50 for w in video + frames)
    assert {w.where()["frames_unread"] for w in whole} == {0}


def test_a_videos_header_gives_its_frame_rate_and_frame_count(tmp_path):
    """What the tracker is timed in and what an upload reports as unread come from the container's header; a
    file that is no video gets the default rate and no count, and is then refused where it is decoded."""
    path = write_video(tmp_path / "slow.avi", [np.full((32, 32, 3), 9 * i, np.uint8) for i in range(10)], fps=12.0)
    assert video_header(str(path)) == (12.0, 10)
    assert source_fps({"kind": "video", "source": str(path)}) == 12.0
    (tmp_path / "junk.avi").write_bytes(b"not a video")
    assert video_header(str(tmp_path / "junk.avi")) == (25.0, 0)
    assert source_fps({"kind": "frames", "source": str(tmp_path)}, default=30.0) == 30.0


def test_a_track_that_is_not_a_person_is_refused_with_its_reason(tmp_path):
    # A hollow frame sliding across: it moves like a person, but its box is nearly empty.
    w, h = 240, 180
    bg = textured_background(w, h, 1)
    frames = []
    for f in range(60):
        img = bg.copy()
        x = 10 + 3 * f
        cv2.rectangle(img, (x, 40), (x + 40, 140), (20, 20, 200), 2)
        frames.append(img)
    path = write_video(tmp_path / "frame.avi", frames)
    with pytest.raises(IngestError) as err:
        _run(_record(path))
    assert err.value.error_type == "NoPersonFound" and "low quality" in err.value.message


def test_a_camera_that_moves_too_much_is_an_error_not_written(tmp_path):
    rng = np.random.default_rng(0)
    frames = [cv2.GaussianBlur(rng.integers(0, 255, (180, 240, 3), np.uint8), (5, 5), 0) for _ in range(60)]
    path = write_video(tmp_path / "shaky.avi", frames)
    with pytest.raises(IngestError) as err:
        _run(_record(path))
    assert err.value.error_type == "CameraMotion" and "onnx" in err.value.message


def test_preprocess_writes_a_sequence_per_person_and_an_error_row_per_refusal(ray_local, two_walkers, tmp_path):
    src = tmp_path / "archive"
    src.mkdir()
    (src / "two.avi").write_bytes(two_walkers[0].read_bytes())
    rng = np.random.default_rng(1)
    write_video(src / "noise.avi", [rng.integers(0, 255, (180, 240, 3), np.uint8) for _ in range(40)])
    out = tmp_path / "shards"
    summary = preprocess(str(src), str(out), CFG)
    assert summary.discovered == 2 and summary.written == 1 and summary.failed == 1
    assert summary.tracks["kept"] == 2 and any("person tracks" in line for line in summary.lines())
    errors = pq.read_table(out / "errors.parquet").to_pylist()
    assert [e["source"].rsplit("/", 1)[-1] for e in errors if e["track_id"] is None] == ["noise.avi"]
    tracks = pq.read_table(out / "tracks.parquet").to_pylist()
    kept = [t for t in tracks if t["dropped"] is None]
    assert len(kept) == 2 and all(t["source"].endswith("two.avi") and t["last_frame"] > t["first_frame"] for t in kept)
    shards = pq.read_table(out / "shards", columns=["sequence_id", "track_id"])
    assert set(shards["sequence_id"].to_pylist()) == {t["sequence_id"] for t in kept}
    assert None not in shards["track_id"].to_pylist()
    manifest = pq.read_table(out / "manifest.parquet").to_pylist()
    two = next(m for m in manifest if m["source"].endswith("two.avi"))
    assert two["tracks"] == 2 and two["clips"] == len(shards)
    meta = json.loads((out / "_manifest.json").read_text())
    assert meta["counts"]["tracks"]["kept"] == 2


def test_an_id_that_comes_back_after_its_track_closed_gets_a_sequence_id_of_its_own():
    """The IdentityKeeper can give a person's id back to them after their track was closed and written (the
    tracker lost them for longer than `track_lost_seconds`): the second stretch must not overwrite the first
    under the same sequence id; it becomes the next segment of that track."""
    cutter = TrackCutter(PreprocessConfig(min_frames=2), fps=25.0)
    rec = {"sequence_id": "source-a"}

    def stretch(start: int) -> PersonTrack:
        t = PersonTrack(7)
        for i in range(start, start + 4):
            box = np.array([10, 10, 30, 70], np.float32)
            t.items.append(FrameItem(i, np.zeros((64, 64, 3), np.uint8), box, True, None, None))
            t.fills.append(0.6)
            t.aspects.append(3.0)
        return t

    first, second = cutter._finish(rec, stretch(0)), cutter._finish(rec, stretch(100))
    assert first.sequence_id != second.sequence_id
    assert (first.track_id, first.segment, second.track_id, second.segment) == (7, 0, 7, 1)


def _stretch(track_id: int, frames: range, scene_x: float, pan: float, stays_on_screen: bool) -> PersonTrack:
    """A person's track, the camera panning `pan` px a frame (0: still). Their box in the scene's fixed view
    starts at x = `scene_x`; `stays_on_screen`: they walk with the pan (the same place on the screen, a moving
    place in the scene), else they stand (the same place in the scene, drifting across the screen)."""
    t = PersonTrack(track_id)
    for i in frames:
        scene = np.float32([scene_x + (pan * i if stays_on_screen else 0), 50, 0, 140])
        scene[2] = scene[0] + 30
        screen = scene - np.float32([pan * i, 0, pan * i, 0])
        t.items.append(FrameItem(i, np.zeros((64, 64, 3), np.uint8), screen, True, None, None, scene if pan else None))
        t.fills.append(0.6)
        t.aspects.append(3.0)
    return t


@pytest.mark.parametrize(
    ("pan", "stays_on_screen", "handed"), [(0.0, True, True), (2.0, True, False), (2.0, False, True)]
)
def test_a_lost_track_is_handed_on_only_to_one_in_the_same_place_of_the_scene(pan, stays_on_screen, handed):
    """A track lost after frame 29 and a newer one seen from frame 50 on (within `track_lost_seconds`). With a
    still camera, one over the other's last box is the same person, stood where they were lost. With a camera
    panning 2 px a frame, the same place on the screen shows a part of the scene 40 px away 21 frames later: the
    newer track there is someone else, and one at the same place of the scene (drawn 40 px aside) is the same."""
    ended = _stretch(1, range(0, 30), 100.0, pan, stays_on_screen)
    newer = _stretch(2, range(50, 90), 100.0, pan, stays_on_screen)
    assert _handed_on(ended, {2: newer}, within=38, size=(320, 240)) is handed
    assert (newer.track_id, newer.first) == ((1, 0) if handed else (2, 50))
    if handed:  # the older frames keep their places in the scene
        placed = [it.index for it in newer.items if it.scene is not None]
        assert placed == ([*range(0, 30), *range(50, 90)] if pan else [])


def test_someone_coming_in_where_another_left_the_view_gets_a_track_id_of_their_own(tmp_path):
    """ByteTrack keeps a lost track for `track_lost_seconds` and takes it up again with whoever turns up over its
    predicted box: a walker who left the view slowly at the right edge and another who came in there 8 frames
    later, walking back, shared one id. At the tracker, before any hand-on or colour, they are two ids."""
    path = tmp_path / "in-out.avi"
    truth = walkers_video(
        path, [(190.0, 1.0, 120.0, 70.0), (346.0, -2.0, 120.0, 70.0)], 100, spans=[(0, 46), (48, 100)]
    )
    tracks = track_frames(read_frames(path), make_detector("background"), appearance=False)
    owners = []
    for t in tracks:
        if len(t.frames) >= CFG.min_frames:
            on = {
                w
                for w, seen in truth.items()
                for f, b in zip(t.frames, t.boxes, strict=True)
                if seen[f] is not None and _iou(b, seen[f]) > 0.3
            }
            owners.append(sorted(on))
    assert sorted(owners) == [[0], [1]], [(t.track_id, t.first, t.last) for t in tracks]


def test_a_walker_who_turns_back_at_the_edge_keeps_their_id_by_their_colour(tmp_path):
    """The same walker (the same clothes: `walkers_video` colours walker 6 as walker 0; 1-5 are never drawn)
    leaves at the right edge and comes back there 8 frames later: the tracker starts a new id, and the
    IdentityKeeper gives the old one back because their colour is that person's."""
    path = tmp_path / "back.avi"
    hidden = [(0.0, 0.0, 120.0, 70.0)] * 5
    paths = [(190.0, 1.0, 120.0, 70.0), *hidden, (346.0, -2.0, 120.0, 70.0)]
    walkers_video(path, paths, 100, spans=[(0, 46), *[(0, 0)] * 5, (48, 100)])
    raw = [
        t for t in track_frames(read_frames(path), make_detector("background"), appearance=False) if len(t.frames) >= 5
    ]
    kept = [t for t in track_frames(read_frames(path), make_detector("background")) if len(t.frames) >= 5]
    assert len(raw) == 2 and len(kept) == 1 and kept[0].first <= 1 and kept[0].last >= 98


def test_someone_leaving_and_someone_coming_in_through_one_blob_at_the_edge_are_two_ids(tmp_path):
    """A walker leaves slowly at the right edge while another (other clothes) comes in there: for 4 frames both
    are in the same blob at the edge, so the tracker has no gap to see and carries one id from the one to the
    other. The IdentityKeeper sees the track's colour turn into someone else's there: two ids, one walker each."""
    path = tmp_path / "edge.avi"
    truth = walkers_video(
        path, [(190.0, 1.0, 120.0, 70.0), (334.0, -2.0, 120.0, 70.0)], 100, spans=[(0, 46), (42, 100)]
    )
    raw = track_frames(read_frames(path), make_detector("background"), appearance=False)
    kept = track_frames(read_frames(path), make_detector("background"))

    def owners(tracks: list) -> list[list[int]]:
        out = []
        for t in tracks:
            if len(t.frames) >= CFG.min_frames:
                on = {w: 0 for w in truth}
                for f, b in zip(t.frames, t.boxes, strict=True):
                    for w, seen in truth.items():
                        on[w] += seen[f] is not None and _iou(b, seen[f]) > 0.3
                out.append(sorted(w for w, n in on.items() if n > 3))
        return sorted(out)

    assert owners(raw) == [[0, 1]]  # the case: one track id over both walkers
    assert owners(kept) == [[0], [1]], [(t.track_id, t.first, t.last) for t in kept]


def test_a_tracked_box_is_given_in_the_frame_and_in_the_scene_where_the_camera_moved():
    """The tracker follows people in the scene's fixed view; downstream gets each box in the frame's pixels (to cut
    crops) and, where the camera moved, in the scene's view as tracked (to judge hand-ons), without warping it again."""
    tracker = PersonTracker(25.0)
    person = np.float32([[100, 50, 130, 130]])
    pan = np.float64([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    for i in range(5):
        pan[0, 2] = 4.0 * i  # frame → scene: the camera pans left 4 px a frame, so the person stands still in the scene
        moved = person - np.float32([4 * i, 0, 4 * i, 0])
        (box,) = tracker.update(Detections(moved, np.ones(1, np.float32), to_world=pan.copy()), (320, 240))
        np.testing.assert_allclose(box.box, moved[0], atol=1e-3)
        np.testing.assert_allclose(box.scene, person[0], atol=1e-3)
    still = PersonTracker(25.0)
    (box,) = still.update(Detections(person, np.ones(1, np.float32)), (320, 240))
    assert box.scene is None
    np.testing.assert_allclose(box.box, person[0], atol=1e-3)
