"""`gait watch`: sliding windows over a video, identified through the endpoint and locally; people numbered
across windows; the summary it ends with."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import numpy as np
import pytest

from pipeline.serve.watch import (
    LocalIdentifier,
    PersonIds,
    RemoteIdentifier,
    Sighting,
    WatchSummary,
    latest_windows,
    watch,
    windows,
)
from tests.data.conftest import write_video


def test_windows_slide():
    stream = ((float(i), np.full((2, 2, 3), i, np.uint8)) for i in range(10))
    got = [(t, [int(f[0, 0, 0]) for f in w]) for t, w in windows(stream, 4, 3)]
    assert got == [(3.0, [0, 1, 2, 3]), (6.0, [3, 4, 5, 6]), (9.0, [6, 7, 8, 9])]
    # two frames more than the last window: a last window of the last 4 frames, so the source is watched to its end
    stream = ((float(i), np.full((2, 2, 3), i, np.uint8)) for i in range(12))
    got = [(t, [int(f[0, 0, 0]) for f in w]) for t, w in windows(stream, 4, 3)]
    assert got[-2:] == [(9.0, [6, 7, 8, 9]), (11.0, [8, 9, 10, 11])]


def test_a_live_source_skips_frames_rather_than_fall_behind():
    """A camera does not wait for its reader: an identification slower than the frames arrive takes the newest
    frames each time (a file, by contrast, gives every window: test_windows_slide)."""

    def camera():  # 200 frames, one every 2 ms; each frame's value is its number
        for i in range(200):
            time.sleep(0.002)
            yield i * 0.002, np.full((2, 2, 3), i, np.uint8)

    got = []
    for _, start, frames in latest_windows(camera(), 10, 5):
        got.append((start, [int(f[0, 0, 0]) for f in frames]))
        time.sleep(0.05)  # an identification that takes 25 frames' time
    assert all(values == list(range(start, start + 10)) for start, values in got), got  # whole, in order
    starts = [start for start, _ in got]
    assert all(b - a >= 5 for a, b in itertools.pairwise(starts)), starts
    assert len(got) < 39, starts  # every window, none skipped, would be 39: frames 0-9, 5-14, …, 190-199
    assert got[-1][1][-1] >= 190, starts  # the newest frames, not a backlog


def test_a_live_source_that_cannot_be_opened_says_so():
    def broken():
        raise ValueError("cannot open 'rtsp://nowhere'")
        yield  # a generator, like watch.frames

    with pytest.raises(ValueError, match="cannot open"):
        list(latest_windows(broken(), 10, 5))


def _walker(x0: float, speed: float, frames: range, track_id: int) -> dict:
    """An answer for one person, boxes [frame in the window, x0, y0, x1, y1]; `frames` are stream frames."""
    start = frames.start
    return {"track_id": track_id, "boxes": [[f - start, x0 + speed * f, 10, x0 + speed * f + 20, 60] for f in frames]}


def test_people_keep_their_number_across_overlapping_windows():
    """Each window is tracked anew (its track ids mean nothing in the next one): numbers follow the boxes in
    the frames two windows share."""
    ids = PersonIds()
    first = [_walker(0, 2, range(0, 8), 1), _walker(200, -2, range(0, 8), 2)]
    assert ids.assign(0, first) == [1, 2]
    # the next window (frames 4-11): the two listed the other way round, under other track ids, and a newcomer
    second = [_walker(200, -2, range(4, 12), 1), _walker(100, 0, range(9, 12), 2), _walker(0, 2, range(4, 12), 3)]
    assert ids.assign(4, second) == [2, 3, 1]
    # frames 8-15: person 1 goes on; someone where nobody was in the frames shared; an answer without boxes
    third = [_walker(0, 2, range(8, 16), 5), _walker(300, 0, range(8, 16), 6), {"identity": "-", "error": "x"}]
    assert ids.assign(8, third) == [1, 4, None]
    # person 2 missed a window: whoever stands there now is not taken for them
    assert ids.assign(12, [_walker(200, -2, range(12, 20), 1)]) == [5]


def test_people_keep_their_number_across_windows_that_share_no_frame():
    """A live source's windows are its newest frames, taken while the last window was identified: they share
    none. A person seen again soon keeps their number where their first box overlaps where they were heading."""
    ids = PersonIds(max_gap=20)
    first = [_walker(0, 3, range(0, 8), 1), _walker(200, 0, range(0, 8), 2)]
    assert ids.assign(0, first) == [1, 2]
    # frames 15-22: person 1 walked on at 3 px a frame (at x 45 now: their last box, at x 21, does not overlap
    # it, but their heading does); person 2 stood still; a newcomer
    second = [_walker(200, 0, range(15, 23), 1), _walker(100, 0, range(15, 23), 2), _walker(0, 3, range(15, 23), 3)]
    assert ids.assign(15, second) == [2, 3, 1]
    # frames 30-37: someone walking the other way, where person 1 last was (x 66) but not where they were heading
    # (x 90), is not taken for them
    assert ids.assign(30, [_walker(150, -3, range(30, 38), 1)]) == [4]
    # a gap longer than max_gap: a new number, even on the same path
    ids.assign(40, [_walker(0, 3, range(40, 48), 1)])
    assert ids.assign(70, [_walker(0, 3, range(70, 78), 1)]) == [ids.count]


def test_watch_numbers_people_in_stream_frames(tmp_path):
    """A window's boxes are in its own frames; `watch` places each window in the stream, so a person seen in
    every window keeps one number and their last box names its stream frame."""
    video = write_video(tmp_path / "ramp.avi", [np.full((32, 32, 3), 8 * i, np.uint8) for i in range(30)])

    def identify(window: list[np.ndarray]) -> dict:
        # one person, at an x that is the stream frame's number (read back from the frame's grey level)
        xs = [round(float(f.mean()) / 8) for f in window]
        return {"identity": "a", "similarity": 0.9, "boxes": [[i, x, 0, x + 4, 10] for i, x in enumerate(xs)]}

    summary = WatchSummary()
    seen = list(watch(str(video), identify, window=8, step=4, summary=summary))
    assert len(seen) == summary.windows == 7  # frames 0-7, 4-11, …, 20-27, and 22-29 for the file's last two
    assert {s.person for s in seen} == {1}
    assert [s.detail for s in seen] == [f"box {x},0-{x + 4},10 (frame {x})" for x in (7, 11, 15, 19, 23, 27, 29)]
    assert (
        summary.lines()[-1].startswith("watch: 7 windows over ")
        and "1 people followed, 1 of them" in (summary.lines()[-1])
    )


def test_a_file_shorter_than_a_window_is_watched_as_one_window(tmp_path):
    """A 20-frame clip with 48-frame windows (the default): one window of all its frames, not "0 windows"."""
    video = write_video(tmp_path / "short.avi", [np.full((32, 32, 3), 8 * i, np.uint8) for i in range(20)])
    got: list[list[int]] = []

    def identify(window: list[np.ndarray]) -> dict:
        got.append([round(float(f.mean()) / 8) for f in window])
        return {"identity": "a", "similarity": 0.9, "boxes": [[len(window) - 1, 1, 0, 5, 10]]}

    summary = WatchSummary()
    seen = list(watch(str(video), identify, summary=summary))
    assert got == [list(range(20))] and summary.windows == 1
    assert seen[0].person == 1 and seen[0].detail == "box 1,0-5,10 (frame 19)"  # the window starts at frame 0
    short = ((float(i), np.full((2, 2, 3), i, np.uint8)) for i in range(3))
    assert [(t, len(w)) for t, w in windows(short, 4, 3)] == [(2.0, 3)]


def test_the_watch_summary_names_each_person_by_most_of_their_windows():
    summary = WatchSummary(windows=4)
    for t, person, identity in [(1, 1, "ann"), (2, 1, "bob"), (3, 1, "ann"), (2, 2, "unknown"), (4, 2, "unknown")]:
        summary.add(Sighting(float(t), identity, 0.5, person=person))
    summary.add(Sighting(4.0, "-", None, "endpoint down"))  # no person: counts nowhere
    assert summary.lines() == [
        "  person 1: ann in 2 of 3 window(s), t=1.0–3.0 s",
        "  person 2: unknown in 2 of 2 window(s), t=2.0–4.0 s",
        "watch: 4 windows over 4.0 s; 2 people followed, 1 of them named by most of their windows",
    ]


def test_watch_through_the_endpoint(server, videos):
    video = videos[sorted(videos)[1]][0]
    seen = list(watch(str(video), RemoteIdentifier(server, "hall"), window=12, step=6))
    assert len(seen) >= 2
    for s in seen:
        assert s.identity and s.line().startswith("t=")
        assert s.identity != "-" or s.detail  # an answer, or the endpoint's reason


def test_watch_locally(local_model, videos, tmp_path):
    from pipeline.common.model_dir import ModelInfo
    from pipeline.identify.embed import load_embedder
    from pipeline.models.embedding import embed_clips_shared
    from pipeline.serve.registry import Registry
    from pipeline.serve.uploads import ClipMaker

    info = ModelInfo(local_model)
    maker, embedder = ClipMaker(info.preprocess, info.column), load_embedder(local_model)
    registry = Registry(f"sqlite:///{tmp_path}/r.db", info.version)
    for person in sorted(videos)[:2]:
        vecs = embed_clips_shared(embedder, maker.from_video(videos[person][0].read_bytes()))
        registry.enroll(person, vecs, ["v"] * len(vecs))
    probe = videos[sorted(videos)[0]][1]
    seen = list(watch(str(probe), LocalIdentifier(str(local_model), registry.url), window=12, step=6))
    assert seen and {s.identity for s in seen} <= {*sorted(videos)[:2], "unknown", "-"}
    assert any(s.identity != "-" for s in seen)
    # the command: a line per person per window, and last, the summary
    cmd = [sys.executable, "-m", "pipeline.cli", "watch", str(probe), "--model", str(local_model)]
    cmd += ["--registry-url", registry.url, "--window", "12", "--step", "6"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and lines[0].startswith("t=") and "person 1" in lines[0], r.stderr[-2000:]
    assert lines[-1].startswith("watch: ") and "people followed" in lines[-1], lines


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["watch", "missing.mp4", "--model", "m"], "either --url"),
        (["watch", "missing.mp4", "--url", "http://127.0.0.1:9"], "cannot open"),
        (["watch", "x.mp4"], "either --url"),
    ],
)
def test_watch_cli_errors(argv, message):
    if argv[2:4] == ["--model", "m"]:
        argv += ["--url", "http://127.0.0.1:9"]  # both given
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and message in r.stderr
