"""`gait index`: Ray Data batch inference into a gallery; same clips as preprocessing; resumable, idempotent."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.cli import main
from pipeline.identify.embed import load_embedder
from pipeline.identify.gallery import MEAN_ROW, Gallery, read_gallery, vectors
from pipeline.identify.index import index_archive
from pipeline.identify.search import gallery_vector, search
from pipeline.ingest.shards import load_clips
from pipeline.models.embedding import embed_clips, embed_clips_shared, frame_index
from tests.data.conftest import read_frames, textured_background, write_video

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def archive(tiny_shards, tmp_path_factory) -> Path:
    """The tiny synthetic archive with one video broken: 50 sequences, 49 indexable."""
    out = tmp_path_factory.mktemp("archive") / "synth"
    shutil.copytree(tiny_shards.parent / "synth", out)
    broken = sorted((out / "videos").glob("005-cl-01-*.mp4"))[0]
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 10)
    return out


@pytest.fixture(scope="module")
def clean_gallery(archive, local_model, tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("gallery") / "g"
    summary = index_archive(str(archive), str(local_model), str(out), commit_every=8)
    return out, summary


def _rows(gallery: Path) -> list[tuple[str, int]]:
    t = read_gallery(str(gallery))
    return list(zip(t["sequence_id"].to_pylist(), t["clip_index"].to_pylist(), strict=True))


def test_gallery_rows_errors_and_tally(clean_gallery, archive, local_model):
    out, summary = clean_gallery
    assert summary.discovered == 50 and summary.indexed == 49 and summary.failed == 1 and summary.skipped == 0
    errors = pq.read_table(out / "errors.parquet").to_pylist()
    assert len(errors) == 1 and "005-cl-01" in errors[0]["source"] and errors[0]["error_type"]
    t = read_gallery(str(out))
    version = (local_model / "version").read_text().strip()
    assert set(t["model_version"].to_pylist()) == {version}
    means = t.filter(t["clip_index"].to_numpy() == MEAN_ROW)
    assert len(means) == 49 and len(set(means["sequence_id"].to_pylist())) == 49
    assert len(t) == 49 + summary.clips
    assert vectors(t).shape[1] == 16 and np.allclose(np.linalg.norm(vectors(t), axis=1), 1.0, atol=1e-5)
    # the mean row is the normalised mean of the sequence's clip rows
    sid = means["sequence_id"][0].as_py()
    rows = t.filter(t["sequence_id"].to_numpy(zero_copy_only=False) == sid)
    clip_vecs = vectors(rows)[1:]
    m = clip_vecs.mean(0)
    np.testing.assert_allclose(vectors(rows)[0], m / np.linalg.norm(m), atol=1e-6)
    assert set(rows["clips"].to_pylist()) == {len(clip_vecs)}
    # labels travel from discovery
    assert {"nm", "bg", "cl"} <= set(means["condition"].to_pylist()) and None not in means["subject"].to_pylist()


def test_index_uses_the_same_clips_as_preprocessing(clean_gallery, tiny_shards, local_model):
    """One implementation: the gallery's clip vectors are the embeddings of the shards' clips."""
    out, _ = clean_gallery
    shards = load_clips(str(tiny_shards), columns=["sequence_id", "clip_index", "frames"], splits=["gallery"])
    mine = embed_clips(load_embedder(local_model), shards["frames"])
    t = read_gallery(str(out))
    key = {
        (s, c): i
        for i, (s, c) in enumerate(zip(t["sequence_id"].to_pylist(), t["clip_index"].to_pylist(), strict=True))
    }
    theirs = vectors(t)[[key[(s, c)] for s, c in zip(shards["sequence_id"], shards["clip_index"], strict=True)]]
    np.testing.assert_allclose(theirs, mine, atol=1e-4)


def test_shared_frames_give_the_same_vectors(tiny_shards, local_model):
    """Overlapping clips (stride < length, as preprocessing cuts them): each distinct frame through the first
    stage once, and the same vectors as clip by clip."""
    c = load_clips(str(tiny_shards), columns=["frames"], splits=["gallery"])["frames"][:3]
    frames = np.concatenate(list(c))
    t, s = c.shape[1], c.shape[1] // 2
    clips = np.stack([frames[i : i + t] for i in range(0, len(frames) - t + 1, s)])
    flat = clips.reshape((-1, *clips.shape[2:]))
    first, inverse = frame_index(flat)
    assert len(first) == len(np.unique(frames.reshape(len(frames), -1), axis=0)) < len(flat)
    np.testing.assert_array_equal(flat[first][inverse], flat)
    embedder = load_embedder(local_model)
    np.testing.assert_allclose(embed_clips_shared(embedder, clips), embed_clips(embedder, clips), atol=1e-5)


def test_rerun_adds_zero_rows(clean_gallery, archive, local_model):
    out, _ = clean_gallery
    before = _rows(out)
    parts = Gallery.at(str(out)).part_files()
    again = index_archive(str(archive), str(local_model), str(out))
    assert again.indexed == 0 and again.skipped == 49 and again.failed == 1
    assert Gallery.at(str(out)).part_files() == parts
    assert _rows(out) == before


def test_footage_is_indexed_per_person_and_each_refused_track_is_an_error_row(tiny_shards, local_model, tmp_path):
    """A clip of two people walking side by side, and beside them something that flickers (seen one frame in
    three, so its tracks are refused for their quality): a gallery sequence per person with its track and boxes,
    an error row per refused track, every track counted; a re-run adds nothing and keeps the error rows."""
    walks = sorted((tiny_shards.parent / "synth" / "videos").glob("*-nm-*-090.mp4"))
    left, right = read_frames(walks[0]), read_frames(walks[-1])
    width = left[0].shape[1]
    background = textured_background(width, left[0].shape[0], 1)
    flicker = [background.copy() for _ in left]
    for f, frame in enumerate(flicker):
        if f % 3 == 0:
            cv2.rectangle(frame, (50 + f, 20), (70 + f, 80), (20, 20, 200), -1)  # well away from the walkers
    archive = tmp_path / "footage"
    archive.mkdir()
    clip = write_video(archive / "three.mp4", [np.hstack(p) for p in zip(left, right, flicker, strict=False)])
    out = tmp_path / "g"

    summary = index_archive(str(archive), str(local_model), str(out))
    t = summary.tracks
    assert summary.indexed == 1 and summary.failed == 0, summary.lines()
    assert t["found"] == t["kept"] + t["short"] + t["low_quality"] + t["not_chosen"] and t["low_quality"] >= 1, t
    means = read_gallery(str(out)).to_pylist()
    means = [r for r in means if r["clip_index"] == MEAN_ROW]
    assert len(means) == t["kept"] and len({r["track_id"] for r in means}) == t["kept"]
    assert all(r["source"] == str(clip) and r["input_id"] for r in means)
    for inside in ((0, width), (width, 2 * width)):  # each walker: a sequence of their own, boxes in their half
        held = []
        for r in means:
            boxes = np.array(r["boxes"]).reshape(-1, 5)
            centre = np.median((boxes[:, 1] + boxes[:, 3]) / 2)
            if inside[0] < centre < inside[1] and len(boxes) >= len(left) - 3:
                held.append(r)
        assert len(held) == 1, (inside, [(r["track_id"], r["first_frame"], r["last_frame"]) for r in means])
        assert held[0]["first_frame"] == int(np.array(held[0]["boxes"])[0])
    errors = pq.read_table(out / "errors.parquet").to_pylist()
    refused = [e for e in errors if e["track_id"] is not None]
    assert len(errors) == len(refused) == t["low_quality"]
    assert all(e["source"] == str(clip) and e["error_type"] == "LowQualityTrack" for e in refused)
    assert any(line.startswith("  person tracks: ") for line in summary.lines())
    assert [line.split(":")[0] for line in summary.lines()[2:]] == ["  dropped"] * len(refused)

    again = index_archive(str(archive), str(local_model), str(out))
    assert again.indexed == 0 and again.skipped == 1 and again.clips == 0
    assert len(read_gallery(str(out))) == t["kept"] + summary.clips
    assert pq.read_table(out / "errors.parquet").to_pylist() == errors


def test_killed_midway_then_rerun_equals_one_clean_run(clean_gallery, archive, local_model, tmp_path):
    """SIGKILL the whole `gait index` process group after its first committed part, re-run: the same gallery."""
    out = tmp_path / "g"
    cmd = [sys.executable, "-m", "pipeline.cli", "index", str(archive), "--model", str(local_model)]
    cmd += ["--out", str(out), "--commit-every", "1", "--sequences-per-task", "1", "--batch-size", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ADDRESS": ""}
    env.pop("RAY_ADDRESS")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 240
    try:
        while not Gallery.at(str(out)).part_files():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no part was committed in time"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    partial = Gallery.at(str(out))
    done = len(partial.indexed_keys(partial.model_versions()[0]))
    assert 0 < done < 49, f"killed too late to test a resume ({done} sequences committed)"
    resumed = index_archive(str(archive), str(local_model), str(out))
    assert resumed.skipped == done and resumed.indexed == 49 - done
    clean, _ = clean_gallery
    assert _rows(out) == _rows(clean)  # same rows, none twice
    a, b = read_gallery(str(out)), read_gallery(str(clean))
    np.testing.assert_allclose(vectors(a), vectors(b), atol=1e-5)


def test_search_streams_the_gallery_and_finds_what_brute_force_finds(clean_gallery):
    """`search` keeps each probe's best walks batch by batch; a whole-table nearest-neighbour search agrees."""
    out, _ = clean_gallery
    means = read_gallery(str(out), means_only=True)
    vecs, ids = vectors(means), means["sequence_id"].to_pylist()
    version = means["model_version"][0].as_py()
    probes = np.concatenate([vecs[[0, 17, 30]], np.random.default_rng(0).normal(size=(1, vecs.shape[1]))])
    hits, searched = search(str(out), version, probes, top_k=5, exclude=frozenset({ids[3]}), batch_rows=7)
    assert searched == len(ids) - 1 == 48
    unit = probes / np.linalg.norm(probes, axis=1, keepdims=True)
    sims = unit @ (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).T
    sims[:, 3] = -np.inf  # excluded
    for q, found in enumerate(hits):
        want = np.argsort(-sims[q], kind="stable")[:5]
        assert [h.sequence_id for h in found] == [ids[i] for i in want]
        np.testing.assert_allclose([h.similarity for h in found], sims[q, want], atol=1e-4)
    assert hits[0][0].sequence_id == ids[0] and hits[0][0].similarity == pytest.approx(1.0, abs=1e-4)
    vector, source = gallery_vector(str(out), version, ids[17])
    np.testing.assert_allclose(vector, vecs[17], atol=1e-6)
    assert source == means["source"][17].as_py()
    with pytest.raises(ValueError, match="no sequence"):
        gallery_vector(str(out), version, "no-such-walk")


def test_search_command_lists_each_persons_nearest_walks(clean_gallery, archive, local_model, tmp_path, capsys):
    """`gait search VIDEO`: the video's walker is found and embedded as an upload is, the archive's walks are
    listed nearest first, and the summary comes last; --sequence searches from one of the gallery's walks."""
    out, _ = clean_gallery
    video = sorted((archive / "videos").glob("002-nm-02-*.mp4"))[0]
    result = tmp_path / "found.json"
    args = ["--gallery", str(out), "--model", str(local_model), "--top-k", "4"]
    assert main(["search", str(video), *args, "--json", str(result)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"search: person 1 of 1 in {video.name} (track ") and "nearest of 49 walks" in lines[0]
    assert lines[-1].startswith("search: 1 person searched for among 49 walks") and "threshold 0.500" in lines[-1]
    found = json.loads(result.read_text())
    assert found["threshold_from"].startswith("the default: this model has no evaluation") and found["searched"] == 49
    (person,) = found["people"]
    sims = [h["similarity"] for h in person["hits"]]
    assert len(sims) == 4 and sims == sorted(sims, reverse=True) and person["first_frame"] == 0
    assert all(Path(h["source"]).parent == archive / "videos" for h in person["hits"])

    walk = person["hits"][0]["sequence_id"]
    assert main(["search", walk, "--sequence", *args, "--threshold", "0.2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"search: walk {walk} (") and "nearest of 48 walks" in lines[0]
    assert lines[-1].endswith("4 listed at or above the threshold 0.200 (--threshold)")
    with pytest.raises(SystemExit, match="no video at"):
        main(["search", str(tmp_path / "missing.mp4"), *args])


def test_svm_command_enrols_a_gallery(clean_gallery, tmp_path, capsys):
    from pipeline.identify.svm import LinearSvm

    out, _ = clean_gallery
    assert main(["svm", str(out), "--out", str(tmp_path / "svm"), "--far", "0.05"]) == 0
    assert "open-set threshold" in capsys.readouterr().out
    model = LinearSvm.load(tmp_path / "svm")
    t = read_gallery(str(out), means_only=True)
    assert list(model.classes) == sorted(set(t["subject"].to_pylist()))
    assert model.target_far == 0.05 and model.info["threshold_from"] == "enrolled classes held out in folds"
    # it is scikit-learn's SVM over the gallery's labelled clip vectors (the tiny model's vectors are too weak
    # for an accuracy figure to mean anything)
    from pipeline.identify.svm import fit_sklearn

    clips = read_gallery(str(out))
    clips = clips.filter(clips["clip_index"].to_numpy() >= 0)
    reference = fit_sklearn(vectors(clips).astype(np.float64), np.array(clips["subject"].to_pylist()))
    means = vectors(t).astype(np.float64)
    np.testing.assert_array_equal(model.predict(means), reference.predict(means))
