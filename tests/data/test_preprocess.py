"""`gait preprocess` end to end on a real local Ray: shards, tallies, splits, re-runs, URIs, streams, bad input."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.ingest import stage as preprocess_stage
from pipeline.ingest.config import PreprocessConfig, PreprocessPaths
from pipeline.ingest.preprocess import preprocess, reusable
from pipeline.ingest.shards import load_clips, read_clips
from tests.data.conftest import copy_walk, read_frames, write_video

CFG = PreprocessConfig(width=32, height=32, clip_len=8, stride=4, min_frames=4, rows_per_file=16)
ROOT = Path(__file__).resolve().parents[2]


def _manifest(out: Path) -> dict:
    return json.loads((out / "_manifest.json").read_text())


def _errors(out: Path) -> list[dict]:
    return pq.read_table(out / "errors.parquet").to_pylist()


@pytest.fixture(scope="module")
def synthetic_shards(ray_local, tiny_synth, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pre") / "shards"
    summary = preprocess(str(tiny_synth), str(out), CFG)
    assert summary.discovered == 40 == summary.written and summary.failed == 0
    return out


def test_shards_follow_the_contract(synthetic_shards, ray_local):
    meta = _manifest(synthetic_shards)
    assert meta["schema_version"] == 2 and meta["layout"] == "synthetic" and meta["protocol"] == "synthetic"
    counts = meta["counts"]
    assert counts["discovered"] == counts["written"] + counts["failed"] == 40
    assert counts["clips"] == 40 * 4 and counts["frames"] == 40 * 20
    ds = read_clips(str(synthetic_shards))
    assert ds.count() == counts["clips"]
    row = ds.take(1)[0]
    assert row["frames"].shape == (8, 32, 32, 3) and row["frames"].dtype == np.uint8
    assert row["silhouettes"].shape == (8, 32, 32) and row["joints"].shape == (8, 16, 3)
    assert row["boxes"].shape == (8, 4) and row["detected"].shape == (8,)
    assert row["config_hash"] == CFG.hash() == meta["config_hash"]
    table = pq.read_table(synthetic_shards / "shards", columns=["sequence_id", "clip_index", "frame_start", "split"])
    keys = list(zip(table["sequence_id"].to_pylist(), table["clip_index"].to_pylist(), strict=True))
    assert len(set(keys)) == len(keys), "no clip is written twice"
    assert sorted(set(table["frame_start"].to_pylist())) == [0, 4, 8, 12]
    assert _errors(synthetic_shards) == []
    local = load_clips(str(synthetic_shards), columns=["frames", "joints", "split"], splits=["gallery"])
    assert local["frames"].shape == (2 * 4, 8, 32, 32, 3) and set(local["split"]) == {"gallery"}  # nm-01, 2 views
    np.testing.assert_array_equal(
        local["frames"][0], load_clips(str(synthetic_shards), splits=["gallery"])["frames"][0]
    )


def test_splits_follow_the_synthetic_protocol(synthetic_shards):
    m = pq.read_table(synthetic_shards / "manifest.parquet").to_pylist()
    split = {(r["subject"], r["condition"], r["sequence"], r["view"]): r["split"] for r in m}
    # 4 subjects: 001-003 train (ceil(0.6 × 4) = 3), 004 test; nm-03 of training subjects is validation.
    assert split[("001", "nm", 1, 90)] == "train" and split[("003", "nm", 3, 54)] == "val"
    assert split[("004", "nm", 1, 90)] == "gallery" and split[("004", "nm", 2, 90)] == "probe"
    assert split[("004", "bg", 1, 54)] == "probe" and split[("004", "cl", 1, 90)] == "probe"
    shard_split = pq.read_table(synthetic_shards / "shards", columns=["subject", "split"]).to_pylist()
    assert {r["split"] for r in shard_split if r["subject"] == "004"} == {"gallery", "probe"}


def test_existing_out_is_refused_then_overwritten_atomically(synthetic_shards, tiny_synth, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(synthetic_shards, out)
    before = sorted(p.name for p in (out / "shards").iterdir())
    with pytest.raises(FileExistsError, match="--overwrite"):
        preprocess(str(tiny_synth), str(out), CFG)
    assert sorted(p.name for p in (out / "shards").iterdir()) == before
    preprocess(str(tiny_synth), str(out), CFG.with_changes(clip_len=10, stride=10), overwrite=True)
    assert _manifest(out)["config"]["clip_len"] == 10
    assert pq.read_table(out / "shards", columns=["clip_index"]).num_rows == 80
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary sibling is left"


def test_file_uris(tiny_synth, tmp_path, ray_local):
    out = tmp_path / "uri"
    summary = preprocess(f"file://{tiny_synth}", f"file://{out}", CFG.with_changes(max_frames=8))
    assert summary.written == 40 and (out / "_manifest.json").exists()
    assert pq.read_table(out / "shards", columns=["clip_index"]).num_rows == 40


def test_missing_source_fails_before_any_work(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        preprocess(str(tmp_path / "nowhere"), str(tmp_path / "out"), CFG)
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def bad_archive(tiny_synth, tmp_path_factory) -> Path:
    """An archive of unlabeled videos: three good walks among every kind of bad input."""
    src = tmp_path_factory.mktemp("bad") / "archive"
    copy_walk(tiny_synth, "001-nm-01-090", src / "good.mp4")
    # Walks the tracker follows whole at this tiny size (96×96); how tracks are judged is tests/data/test_tracks.py.
    copy_walk(tiny_synth, "004-nm-01-054", src / "with spaces and ünïcödé ñ.mp4")
    copy_walk(tiny_synth, "003-cl-01-090", src / "sub dir" / "walk.mp4")
    (src / "zero.mp4").write_bytes(b"")
    data = (tiny_synth / "videos" / "001-nm-02-090.mp4").read_bytes()
    (src / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (src / "text.mp4").write_text("this is not a video\n")
    write_video(src / "one_frame.mp4", read_frames(tiny_synth / "videos" / "001-nm-03-090.mp4")[:1])
    frames = src / "mixed_sizes"
    for i, f in enumerate(read_frames(tiny_synth / "videos" / "002-nm-01-090.mp4")[:6]):
        cv2.imwrite(str(frames / f"{i:03d}.png") if frames.exists() else _mk(frames, i, f), f if i < 4 else f[:80, :80])
    big = np.full((200, 400, 3), 90, np.uint8)
    write_video(src / "huge.mp4", [big] * 10)
    shutil.copyfile(tiny_synth / "videos" / "003-bkgrd-090.mp4", src / "nobody.mp4")
    (src / "notes.txt").write_text("not an input")
    return src


def _mk(folder: Path, i: int, f: np.ndarray) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{i:03d}.png")


EXPECTED_ERRORS = {
    "zero.mp4": ("open", "EmptyFile", "empty"),
    "truncated.mp4": ("decode", "UnreadableVideo", "truncated or corrupt"),
    "text.mp4": ("decode", "UnreadableVideo", "not a video"),
    "one_frame.mp4": ("window", "TooShort", "1 frame(s), fewer than min_frames=4"),
    "mixed_sizes": ("decode", "MixedFrameSizes", "96x96 (4 frames), 80x80 (2 frames)"),
    "huge.mp4": ("decode", "FrameTooLarge", "400x200"),
    "nobody.mp4": ("detect", "NoPersonFound", "no person"),
}


def test_every_bad_input_is_one_error_row_and_the_rest_finishes(bad_archive, tmp_path, ray_local):
    out = tmp_path / "out"
    cfg = CFG.with_changes(max_pixels=20_000, min_frames=4)
    summary = preprocess(str(bad_archive), str(out), cfg)
    # Inputs that failed (rows for refused person tracks of written inputs have a track_id: test_tracks.py).
    errors = {Path(e["source"]).name: e for e in _errors(out) if e["track_id"] is None}
    assert set(errors) == set(EXPECTED_ERRORS)
    for name, (stage, etype, text) in EXPECTED_ERRORS.items():
        e = errors[name]
        assert (e["stage"], e["error_type"]) == (stage, etype), (name, e)
        assert text in e["message"], (name, e["message"])
    assert summary.written == 3 and summary.failed == len(EXPECTED_ERRORS)
    assert summary.discovered == summary.written + summary.failed
    shards = pq.read_table(out / "shards", columns=["source", "subject", "split"]).to_pylist()
    assert {Path(r["source"]).name for r in shards} == {"good.mp4", "with spaces and ünïcödé ñ.mp4", "walk.mp4"}
    # Videos at the top are unlabeled; below a folder, the generic layout takes the folder as the subject.
    subjects = {Path(r["source"]).name: (r["subject"], r["split"]) for r in shards}
    assert subjects["good.mp4"] == (None, "unlabeled") and subjects["walk.mp4"] == ("sub dir", "train")
    m = pq.read_table(out / "manifest.parquet").to_pylist()
    assert len(m) == 10 and sum(r["error_type"] is None for r in m) == 3


def test_unreadable_file_is_an_error_row(bad_archive, tmp_path, ray_local):
    """A file the job may not read. Root reads any file, so as root the job runs without the two capabilities
    that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): still root, but bound by file modes, Ray's workers too."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(bad_archive / "good.mp4", src / "good.mp4")
    shutil.copyfile(bad_archive / "good.mp4", src / "locked.mp4")
    os.chmod(src / "locked.mp4", 0)
    out = tmp_path / "out"
    if os.geteuid() == 0:
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to drop root's file capabilities"
        r = subprocess.run(
            [
                "setpriv",
                "--bounding-set=-dac_override,-dac_read_search",
                sys.executable,
                "-m",
                "pipeline.cli",
                "preprocess",
                str(src),
                str(out),
                "--size",
                "32x32",
                "--clip-len",
                "8",
                "--stride",
                "4",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        assert "2 sequences discovered = 1 written + 1 failed" in r.stdout
    else:
        preprocess(str(src), str(out), CFG)
    (e,) = _errors(out)
    assert (Path(e["source"]).name, e["stage"], e["error_type"]) == ("locked.mp4", "open", "PermissionError")
    assert e["message"] == "permission denied: the file cannot be read"
    shards = pq.read_table(out / "shards", columns=["source"]).to_pylist()
    assert {Path(r["source"]).name for r in shards} == {"good.mp4"}


@pytest.fixture
def http_server(tiny_synth):
    """The synthetic videos served over HTTP on 127.0.0.1, as an IP camera or a streaming server would."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tiny_synth / "videos"))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_http_stream_goes_through_the_same_decode(http_server, tmp_path, ray_local):
    out = tmp_path / "stream"
    # min_frames 8 as real configs have: blobs split off the walker for a few frames are not tracks of a person
    cfg = CFG.with_changes(stream_seconds=20, min_frames=8)
    summary = preprocess(f"{http_server}/002-nm-01-090.mp4", str(out), cfg)
    assert summary.written == 1 and summary.failed == 0 and _manifest(out)["layout"] == "stream"
    rows = pq.read_table(out / "shards", columns=["source", "frame_start", "split"]).to_pylist()
    assert len(rows) == 4 and rows[0]["source"].startswith("http://127.0.0.1")


def test_unreachable_stream_is_an_error_row(tmp_path, ray_local):
    out = tmp_path / "dead"
    summary = preprocess("rtsp://127.0.0.1:9/none", str(out), CFG.with_changes(stream_seconds=2))
    assert summary.failed == 1 and _errors(out)[0]["error_type"] == "StreamUnavailable"


def test_a_single_local_file(tiny_synth, tmp_path, ray_local):
    out = tmp_path / "one"
    summary = preprocess(str(tiny_synth / "videos" / "004-nm-01-054.mp4"), str(out), CFG)
    kept = [t for t in pq.read_table(out / "tracks.parquet").to_pylist() if t["dropped"] is None]
    assert summary.written == 1 and len(kept) == 1
    assert pq.read_table(out / "shards", columns=["clip_index"]).num_rows == kept[0]["clips"] >= 3


def test_reuse_holds_only_while_the_inputs_are_as_they_were(tiny_synth, tmp_path, ray_local, capsys):
    """The main job's reuse: shards made from the same files with the same config are kept; a video added,
    removed or rewritten makes them again (only the source's path was compared before, and a re-run never saw
    new videos). Remade from unchanged inputs they keep their content hash, so that training resumes on them."""
    src, out = tmp_path / "archive", tmp_path / "shards"
    for stem in ("001-nm-01-090", "002-nm-01-090"):
        copy_walk(tiny_synth, stem, src / f"{stem}.mp4")
    paths = PreprocessPaths(str(src), str(out))
    first = preprocess_stage.run(CFG, paths, reuse=True)
    key = _manifest(out)["content_hash"]
    assert first.written == 2 and _manifest(out)["inputs_hash"]

    (src / "notes.txt").write_text("not an input")
    assert reusable(str(src), str(out), CFG) is not None
    mtime = (out / "_manifest.json").stat().st_mtime_ns
    assert preprocess_stage.run(CFG, paths, reuse=True).written == 2
    assert (out / "_manifest.json").stat().st_mtime_ns == mtime, "kept, not made again"
    preprocess(str(src), str(out), CFG, overwrite=True)
    assert _manifest(out)["content_hash"] == key, "the same inputs and config: the same shards"

    copy_walk(tiny_synth, "003-nm-01-090", src / "003-nm-01-090.mp4")  # a new video
    assert reusable(str(src), str(out), CFG) is None
    assert "added, removed or changed" in capsys.readouterr().out
    second = preprocess_stage.run(CFG, paths, reuse=True)
    assert second.written == 3 and _manifest(out)["content_hash"] != key

    shutil.copyfile(tiny_synth / "videos" / "004-cl-01-054.mp4", src / "001-nm-01-090.mp4")  # rewritten in place
    assert reusable(str(src), str(out), CFG) is None
    (src / "003-nm-01-090.mp4").unlink()
    assert preprocess_stage.run(CFG, paths, reuse=True).written == 2
    assert len({_manifest(out)["content_hash"], key}) == 2
    assert reusable(str(src), str(out), CFG.with_changes(clip_len=10)) is None
    assert "another config" in capsys.readouterr().out


def test_cli_prints_the_tally(tiny_synth, tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "preprocess",
            str(tiny_synth),
            str(tmp_path / "o"),
            "--size",
            "32x32",
            "--clip-len",
            "8",
            "--stride",
            "8",
            "--max-frames",
            "8",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "40 sequences discovered = 40 written + 0 failed; 40 clips from 320 frames" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "preprocess", str(tmp_path / "missing"), str(tmp_path / "x")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0 and "missing" in r.stderr and not (tmp_path / "x").exists()
