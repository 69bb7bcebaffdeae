"""Discovery: every layout found automatically and when forced, labels parsed, nothing dropped silently."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from pipeline.common import storage
from pipeline.ingest import layouts
from pipeline.ingest.layouts import LAYOUTS, detect_layout, discover
from pipeline.ingest.manifest import (
    MANIFEST_SCHEMA,
    InputError,
    SequenceRecord,
    manifest_to_table,
    table_to_manifest,
)
from pipeline.synth import SynthConfig, generate_dataset

TINY = SynthConfig(
    subjects=2,
    sequences={"nm": 2, "bg": 1},
    views=(90,),
    frames=4,
    width=48,
    height=48,
    background_frames=2,
)
CASIA_B_MISMATCH = "does not follow the CASIA-B naming <subject>-<cond>-<seq>-<view>"


def _video(path: Path, frames: int = 3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (32, 32))
    assert writer.isOpened()
    rng = np.random.default_rng(len(str(path)))
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    writer.release()
    return path


def _frames(folder: Path, names: list[str], silhouette: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(names))
    for name in names:
        if silhouette:
            img = np.zeros((16, 12), np.uint8)
            img[3:13, 4:8] = 255
        else:
            img = rng.integers(0, 256, (16, 12, 3), dtype=np.uint8)
        assert cv2.imwrite(str(folder / name), img)
    return folder


def _sid(rel: str) -> str:
    return hashlib.sha1(rel.encode()).hexdigest()[:16]


def _labels(records: list[SequenceRecord]) -> list[tuple]:
    return [(r.subject, r.condition, r.sequence, r.view, r.kind, r.layout, r.modality) for r in records]


@pytest.fixture
def casia_b_videos(tmp_path) -> Path:
    root = tmp_path / "casia-b"
    for name in ("001-nm-01-090.mp4", "001-nm-02-090.mp4", "001-bg-01-090.mp4", "001-bkgrd-090.mp4"):
        _video(root / "videos" / name)
    _video(root / "more" / "075-cl-02-180.avi")
    _video(root / "videos" / "clip.avi")  # looks like data, does not follow the naming
    (root / "videos" / "notes.txt").write_text("not an input")
    (root / "index.json").write_text("{}")
    (root / "videos" / ".DS_Store").write_bytes(b"\0")
    return root


def test_casia_b_videos_detected_parsed_and_plates_attached(casia_b_videos):
    root = casia_b_videos
    assert detect_layout(pafs.LocalFileSystem(), str(root)) == "casia-b-video"
    records, errors = discover(str(root))
    assert _labels(records) == [
        ("001", "bg", 1, 90, "video", "casia-b-video", "rgb"),
        ("001", "nm", 1, 90, "video", "casia-b-video", "rgb"),
        ("001", "nm", 2, 90, "video", "casia-b-video", "rgb"),
        ("075", "cl", 2, 180, "video", "casia-b-video", "rgb"),
    ]
    assert [r.source for r in records][:2] == [
        str(root / "videos/001-bg-01-090.mp4"),
        str(root / "videos/001-nm-01-090.mp4"),
    ]
    plate = str(root / "videos/001-bkgrd-090.mp4")
    assert [r.background for r in records] == [plate, plate, plate, None]
    assert all("bkgrd" not in r.source for r in records)
    assert all(r.frames is None and r.annotation is None for r in records)
    assert errors == [InputError(str(root / "videos/clip.avi"), "discover", "LayoutMismatch", CASIA_B_MISMATCH)]
    assert errors[0].to_dict() == {
        "source": str(root / "videos/clip.avi"),
        "stage": "discover",
        "error_type": "LayoutMismatch",
        "message": CASIA_B_MISMATCH,
    }
    assert discover(str(root), layout="casia-b-video") == (records, errors)


def test_broken_video_files_are_still_inputs(tmp_path):
    root = tmp_path / "b"
    _video(root / "002-nm-01-000.mp4")
    (root / "002-nm-02-000.mp4").write_bytes(b"")  # zero bytes
    (root / "002-nm-03-000.MP4").write_text("this is not a video")  # upper-case extension
    (root / "002-bg-01-000.webm").write_bytes(b"")
    (root / "002-cl-01-000.mov").write_bytes(b"\0" * 10)
    (root / "junk.mkv").write_text("nor is this")
    records, errors = discover(root)
    assert [(r.condition, r.sequence) for r in records] == [("bg", 1), ("cl", 1), ("nm", 1), ("nm", 2), ("nm", 3)]
    assert [Path(e.source).name for e in errors] == ["junk.mkv"]
    generic, none = discover(str(root), layout="generic")
    assert len(generic) == 6 and none == []


def test_casia_a_detected_from_its_root_or_gaitdb_with_the_same_ids(tmp_path):
    db = tmp_path / "CASIA-A" / "gaitdb"
    for name in ("fyc", "hy"):
        for view in ("00", "45", "90"):
            for seq in (1, 2):
                stem = f"{name}-{view}_{seq}"
                _frames(db / name / f"{view}_{seq}", [f"{stem}-{i}.png" for i in (9, 10, 11)])
    _frames(db / "hy" / "30_1", ["hy-30_1-001.png"])  # not a CASIA-A view
    (db / "readme.txt").write_text("ignored")

    records, errors = discover(str(db.parent))
    assert len(records) == 12
    assert _labels(records)[:3] == [
        ("fyc", "nm", 1, 0, "frames", "casia-a", "rgb"),
        ("fyc", "nm", 1, 45, "frames", "casia-a", "rgb"),
        ("fyc", "nm", 1, 90, "frames", "casia-a", "rgb"),
    ]
    first = records[0]
    assert first.source == str(db / "fyc/00_1")
    assert [Path(f).name for f in first.frames] == ["fyc-00_1-9.png", "fyc-00_1-10.png", "fyc-00_1-11.png"]
    assert first.sequence_id == _sid("gaitdb/fyc/00_1")
    assert [(e.source, e.error_type) for e in errors] == [(str(db / "hy/30_1"), "LayoutMismatch")]

    from_gaitdb, _ = discover(str(db))
    assert [r.sequence_id for r in from_gaitdb] == [r.sequence_id for r in records]
    assert detect_layout(pafs.LocalFileSystem(), str(db)) == "casia-a"
    assert discover(str(db), layout="casia-a")[0] == from_gaitdb


def _casia_b_tree(root: Path, silhouette: bool) -> Path:
    for subject, cond, seq, view in [("001", "nm", 1, 0), ("001", "nm", 1, 90), ("002", "cl", 2, 180)]:
        stem = f"{subject}-{cond}-{seq:02d}-{view:03d}"
        names = [f"{stem}-{i}.png" for i in (1, 2, 10)]
        _frames(root / subject / f"{cond}-{seq:02d}" / f"{view:03d}", names, silhouette)
    return root


def test_casia_b_silhouettes_read_one_image_to_decide(tmp_path, monkeypatch):
    root = _casia_b_tree(tmp_path / "silh", silhouette=True)
    _video(root / "stray.mp4")
    calls = []
    real = layouts._is_silhouette_image
    monkeypatch.setattr(layouts, "_is_silhouette_image", lambda fs, p: calls.append(p) or real(fs, p))
    records, errors = discover(str(root))
    assert len(calls) == 1
    assert _labels(records) == [
        ("001", "nm", 1, 0, "frames", "casia-b-silhouette", "silhouette"),
        ("001", "nm", 1, 90, "frames", "casia-b-silhouette", "silhouette"),
        ("002", "cl", 2, 180, "frames", "casia-b-silhouette", "silhouette"),
    ]
    assert [Path(f).name for f in records[0].frames] == [
        "001-nm-01-000-1.png",
        "001-nm-01-000-2.png",
        "001-nm-01-000-10.png",
    ]
    assert records[0].sequence_id == _sid("001/nm-01/000")
    assert [(Path(e.source).name, e.error_type) for e in errors] == [("stray.mp4", "LayoutMismatch")]
    forced, _ = discover(str(root), layout="casia-b-frames")  # forcing decides the modality
    assert {(r.layout, r.modality) for r in forced} == {("casia-b-frames", "rgb")}


def test_casia_b_rgb_frames_and_their_plates(tmp_path):
    root = _casia_b_tree(tmp_path / "frames", silhouette=False)
    _frames(root / "001" / "bkgrd" / "090", ["001-bkgrd-090-1.png"])
    assert detect_layout(pafs.LocalFileSystem(), str(root)) == "casia-b-frames"
    records, errors = discover(str(root))
    assert errors == []
    assert {(r.layout, r.modality) for r in records} == {("casia-b-frames", "rgb")}
    assert [r.background for r in records] == [None, str(root / "001/bkgrd/090"), None]
    silh, _ = discover(str(root), layout="casia-b-silhouette")
    assert {(r.layout, r.modality) for r in silh} == {("casia-b-silhouette", "silhouette")}


def test_generic_subjects_best_effort_labels_and_unlabeled(tmp_path):
    root = tmp_path / "archive"
    _video(root / "alice" / "walk1.mp4")
    _frames(root / "alice" / "nm-02" / "090", ["a_3.jpg", "a_1.jpg", "a_2.jpg"])
    _video(root / "bob" / "outdoor" / "clip_045.mp4")
    _video(root / "cam7-2019-05-01.mp4")
    _frames(root / "loose", ["1.png", "2.png"])
    (root / "alice" / "notes.txt").write_text("ignored")
    (root / "bob" / "gt.npz").write_bytes(b"ignored")
    assert detect_layout(pafs.LocalFileSystem(), str(root)) == "generic"
    records, errors = discover(str(root))
    assert errors == []
    assert [(r.subject, r.condition, r.sequence, r.view, r.kind) for r in records] == [
        (None, None, None, None, "video"),
        (None, None, None, None, "frames"),
        ("alice", None, None, None, "video"),
        ("alice", "nm", 2, 90, "frames"),
        ("bob", None, None, 45, "video"),
    ]
    assert {r.layout for r in records} == {"generic"}
    assert [Path(f).name for f in records[3].frames] == ["a_1.jpg", "a_2.jpg", "a_3.jpg"]
    assert records[3].sequence_id == _sid("alice/nm-02/090")
    assert discover(str(root), layout="generic") == (records, errors)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    generate_dataset(TINY, out, parallel=False, progress=False)
    return out


def test_synthetic_dataset_from_its_dataset_json(synth):
    assert detect_layout(pafs.LocalFileSystem(), str(synth)) == "synthetic"
    records, errors = discover(str(synth))
    assert errors == []
    assert _labels(records) == [
        (s, c, q, 90, "video", "synthetic", "rgb") for s in ("001", "002") for c, q in (("bg", 1), ("nm", 1), ("nm", 2))
    ]
    for r in records:
        stem = f"{r.subject}-{r.condition}-{r.sequence:02d}-090"
        assert r.source == str(synth / "videos" / f"{stem}.mp4")
        assert r.annotation == str(synth / "annotations" / f"{stem}.npz") and Path(r.annotation).exists()
        assert r.background == str(synth / "videos" / f"{r.subject}-bkgrd-090.mp4")
        assert r.sequence_id == _sid(f"videos/{stem}.mp4")
    # Read as a plain CASIA-B video tree, the same sequences get the same ids.
    plain, plain_errors = discover(str(synth), layout="casia-b-video")
    assert plain_errors == []
    assert [r.sequence_id for r in plain] == [r.sequence_id for r in records]
    assert [r.background for r in plain] == [r.background for r in records]
    assert {r.layout for r in plain} == {"casia-b-video"}


def test_synthetic_unlisted_and_missing_files_become_errors(synth, tmp_path):
    root = Path(shutil.copytree(synth, tmp_path / "copy"))
    _video(root / "videos" / "extra.mp4")
    (root / "videos" / "002-bg-01-090.mp4").unlink()
    records, errors = discover(str(root))
    assert len(records) == 5
    assert [(Path(e.source).name, e.error_type) for e in errors] == [
        ("002-bg-01-090.mp4", "MissingFile"),
        ("extra.mp4", "LayoutMismatch"),
    ]
    assert errors[1].message == "not listed in dataset.json"


def test_synthetic_casia_a_frames_live_under_gaitdb(tmp_path):
    cfg = TINY.with_changes(layout="casia-a", output="frames", sequences={"nm": 2}, views=(0, 90), frames=3)
    out = tmp_path / "a"
    generate_dataset(cfg, out, parallel=False, progress=False)
    records, errors = discover(str(out))
    assert errors == []
    assert [(r.subject, r.sequence, r.view, r.kind) for r in records] == [
        (s, q, v, "frames") for s in ("p001", "p002") for q in (1, 2) for v in (0, 90)
    ]
    first = records[0]
    assert first.source == str(out / "gaitdb/p001/00_1") and len(first.frames) == 3
    assert first.background == str(out / "gaitdb/p001/00_0")
    assert first.annotation == str(out / "annotations/p001-00_1.npz")
    forced, _ = discover(str(out), layout="casia-a")
    assert [r.sequence_id for r in forced] == [r.sequence_id for r in records]


def test_spaces_and_non_ascii_paths_and_file_uris(tmp_path):
    root = tmp_path / "my data ü"
    _video(root / "José Ñ" / "séquence 1.mp4")
    _frames(root / "José Ñ" / "nm-01" / "180" / "Zoë frames", ["0001.png", "0002.png"])
    _video(root / "日本" / "歩行 045.mkv")
    records, errors = discover(str(root))
    assert errors == []
    assert [(r.subject, r.view, r.kind) for r in records] == [
        ("José Ñ", None, "video"),
        ("José Ñ", 180, "frames"),
        ("日本", 45, "video"),
    ]
    assert all(storage.exists(r.source) for r in records)
    assert discover(root.as_uri()) == (records, errors)  # percent-encoded file URI
    assert discover(f"file://{root}") == (records, errors)  # raw file URI with spaces


def test_file_uri_gives_the_same_records(casia_b_videos):
    assert discover(casia_b_videos.as_uri()) == discover(str(casia_b_videos))


def test_sequence_ids_are_stable_and_relative_to_the_root(casia_b_videos, tmp_path):
    first, _ = discover(str(casia_b_videos))
    again, _ = discover(str(casia_b_videos))
    assert [r.sequence_id for r in first] == [r.sequence_id for r in again]
    assert first[0].sequence_id == _sid("videos/001-bg-01-090.mp4")
    moved = Path(shutil.copytree(casia_b_videos, tmp_path / "elsewhere" / "copy"))
    copied, _ = discover(str(moved))
    assert [r.sequence_id for r in copied] == [r.sequence_id for r in first]
    assert [r.source for r in copied] != [r.source for r in first]
    assert len({r.sequence_id for r in first}) == len(first)


def test_missing_src_fails_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "list_files", lambda *a: pytest.fail("listed a missing SRC"))
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope"):
        discover(str(missing))
    with pytest.raises(FileNotFoundError, match="nope"):
        discover(missing.as_uri(), layout="casia-b-video")


def test_empty_or_media_free_directories_are_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no videos or frame folders found under"):
        discover(str(empty))
    (empty / "notes.txt").write_text("x")
    (empty / "sub").mkdir()
    (empty / "sub" / "labels.json").write_text("{}")
    with pytest.raises(ValueError, match="no videos or frame folders found under"):
        discover(str(empty))


def test_forced_layout_that_matches_nothing(casia_b_videos):
    for layout in ("casia-a", "casia-b-frames", "synthetic", "stream"):
        with pytest.raises(ValueError, match=layout) as info:
            discover(str(casia_b_videos), layout=layout)
        assert str(casia_b_videos) in str(info.value)
    with pytest.raises(ValueError, match="unknown layout"):
        discover(str(casia_b_videos), layout="casia-c")


@pytest.mark.parametrize(
    "src", ["0", "1", "rtsp://cam.local:554/stream1", "rtsps://x/y", "http://h/live.m3u8", "https://h/s"]
)
def test_streams_are_one_record(src):
    records, errors = discover(src)
    assert errors == []
    assert records == [SequenceRecord(sequence_id=_sid(src), source=src, kind="stream", layout="stream")]
    assert discover(src, layout="stream") == (records, errors)
    with pytest.raises(ValueError, match="stream"):
        discover(src, layout="casia-b-video")


def test_is_stream():
    assert storage.is_stream("0") and storage.is_stream("RTSP://x")
    assert not storage.is_stream("video.mp4") and not storage.is_stream("/data/0") and not storage.is_stream("s3://b/k")


def test_single_video_file(tmp_path):
    path = _video(tmp_path / "dir" / "001-nm-01-090.mp4")
    records, errors = discover(str(path))
    assert errors == []
    assert len(records) == 1
    r = records[0]
    assert (r.source, r.kind, r.layout, r.subject) == (str(path), "video", "generic", None)
    assert r.sequence_id == _sid("001-nm-01-090.mp4")
    assert detect_layout(pafs.LocalFileSystem(), str(path)) == "generic"
    forced, _ = discover(str(path), layout="casia-b-video")
    assert _labels(forced) == [("001", "nm", 1, 90, "video", "casia-b-video", "rgb")]
    with pytest.raises(ValueError, match="casia-a"):
        discover(str(path), layout="casia-a")
    text = tmp_path / "dir" / "a.txt"
    text.write_text("x")
    with pytest.raises(ValueError, match="not a video"):
        discover(str(text))


def test_manifest_table_round_trip(casia_b_videos, synth, tmp_path):
    records = (
        discover(str(casia_b_videos))[0]
        + discover(str(synth))[0]
        + discover(str(_casia_b_tree(tmp_path / "s", silhouette=True)))[0]
        + discover("rtsp://cam/1")[0]
    )
    table = manifest_to_table(records)
    assert table.schema == MANIFEST_SCHEMA
    assert table.num_rows == len(records)
    assert table_to_manifest(table) == records
    pq.write_table(table, tmp_path / "manifest.parquet")
    assert table_to_manifest(pq.read_table(tmp_path / "manifest.parquet")) == records
    assert manifest_to_table([]).num_rows == 0


def test_storage_helpers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _video(tmp_path / "a" / "b" / "c.mp4")
    (tmp_path / "a" / "x.txt").write_text("x")
    fs, path = storage.resolve("a")
    assert isinstance(fs, pafs.LocalFileSystem) and path == str(tmp_path / "a")
    assert storage.list_files(fs, path) == [str(tmp_path / "a/b/c.mp4"), str(tmp_path / "a/x.txt")]
    assert storage.exists(fs, path) and storage.exists("a/x.txt") and not storage.exists("a/y")
    assert storage.to_uri(fs, path) == path
    assert storage.resolve(storage.to_uri(fs, path))[1] == path
    assert (
        storage.to_uri(pafs.S3FileSystem(region="us-east-1", anonymous=True), "bucket/key.mp4") == "s3://bucket/key.mp4"
    )
    assert storage.to_uri(pafs.GcsFileSystem(anonymous=True), "bucket/k") == "gs://bucket/k"


def test_layout_names():
    assert set(LAYOUTS) == {
        "synthetic",
        "casia-a",
        "casia-b-video",
        "casia-b-frames",
        "casia-b-silhouette",
        "opengait-pkl",
        "generic",
        "stream",
    }
