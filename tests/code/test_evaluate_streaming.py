"""Evaluation's streaming accumulators give what loading every clip at once gave: GEIs and sequence vectors."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.evaluate.gei import GeiAccumulator, StreamedPca, group_rows, stream_geis
from pipeline.evaluate.shard_stream import iter_clip_batches
from pipeline.evaluate.vectors import ClipVectors, SequenceVectors
from pipeline.ingest.schema import to_table
from pipeline.ingest.shards import load_clips

T, H, W = 4, 6, 5


def in_memory_geis(silhouettes, sequence_ids, frame_start, num_frames):
    """The GEIs as `gait evaluate` computed them before streaming (every clip in memory), kept as the reference."""
    groups = group_rows(sequence_ids)
    ids = list(groups)
    out = np.zeros((len(ids), *silhouettes.shape[2:]), np.float64)
    for k, sid in enumerate(ids):
        seen: dict[int, np.ndarray] = {}
        for i in groups[sid]:
            for t in range(int(num_frames[i])):
                seen.setdefault(int(frame_start[i]) + t, silhouettes[i, t])
        out[k] = np.mean(np.stack(list(seen.values())), axis=0)
    return ids, np.rint(out).astype(np.uint8)


def clip_rows(sequence_id: str, split: str, frames: np.ndarray, starts: list[int], rng) -> dict:
    """Clips of T frames starting at `starts` (they overlap), the last one padded past the sequence's end; the
    second copy of each frame is perturbed, so only "first copy wins" gives the reference's answer."""
    n = len(starts)
    sil = np.zeros((n, T, H, W), np.uint8)
    num = []
    for k, s in enumerate(starts):
        real = min(T, len(frames) - s)
        sil[k, :real] = frames[s : s + real]
        sil[k, real:] = frames[-1]  # padding: not frames of the walk
        if k:
            sil[k, 0] ^= rng.integers(0, 2, (H, W), dtype=np.uint8)  # a later copy of an already-seen frame
        num.append(real)
    return {
        "sequence_id": [sequence_id] * n,
        "source": ["x"] * n,
        "layout": ["synthetic"] * n,
        "subject": ["001"] * n,
        "condition": ["nm"] * n,
        "sequence": [1] * n,
        "view": [90] * n,
        "split": [split] * n,
        "clip_index": list(range(n)),
        "frame_start": starts,
        "num_frames": num,
        "config_hash": ["h"] * n,
        "silhouettes": sil,
    }


def write_shards(root, rng) -> None:
    """Two files; sequence "b" is split across them, so its clips arrive in different batches and files."""
    (root / "shards").mkdir(parents=True)
    a = clip_rows("a", "gallery", rng.integers(0, 256, (9, H, W), dtype=np.uint8), [0, 2, 4, 6], rng)
    b = clip_rows("b", "probe", rng.integers(0, 256, (7, H, W), dtype=np.uint8), [0, 3, 5], rng)
    c = clip_rows("c", "train", rng.integers(0, 256, (3, H, W), dtype=np.uint8), [0], rng)  # one padded clip
    first = {k: list(a[k]) + list(b[k][:2]) for k in a}
    second = {k: list(b[k][2:]) + list(c[k]) for k in a}
    for i, part in enumerate((first, second)):
        part["silhouettes"] = np.stack(part["silhouettes"])
        pq.write_table(to_table(part), root / "shards" / f"part-{i}.parquet")


def test_streamed_geis_equal_the_in_memory_geis(tmp_path):
    write_shards(tmp_path, np.random.default_rng(0))
    c = load_clips(str(tmp_path), columns=["sequence_id", "frame_start", "num_frames", "silhouettes"])
    ref_ids, ref = in_memory_geis(c["silhouettes"], c["sequence_id"], c["frame_start"], c["num_frames"])
    for rows in (1, 2, 64):  # batches that cut through sequences, and one batch a file
        ids, geis = stream_geis(str(tmp_path), rows=rows)
        assert ids == ref_ids == ["a", "b", "c"]
        np.testing.assert_array_equal(geis, ref)  # bit for bit
    # each frame once: "a" has 9 distinct frames in 16 clip frames, "c" 3 real frames and 1 of padding
    acc = GeiAccumulator()
    acc.add(c["silhouettes"], c["sequence_id"], c["frame_start"], c["num_frames"])
    assert [acc.frame_count(s) for s in "abc"] == [9, 7, 3]
    ids, geis = stream_geis(str(tmp_path), splits=["gallery", "probe"])
    assert ids == ["a", "b"]
    np.testing.assert_array_equal(geis, ref[:2])


def test_geis_close_when_their_last_clip_is_in(tmp_path):
    """With the manifest's clip counts a finished sequence keeps H×W bytes, not a running sum: same GEIs."""
    write_shards(tmp_path, np.random.default_rng(3))
    clips = {"a": 4, "b": 3, "c": 1}
    _, ref = stream_geis(str(tmp_path), rows=2)
    acc = GeiAccumulator(clips)
    batches = list(
        iter_clip_batches(str(tmp_path), ["sequence_id", "frame_start", "num_frames", "silhouettes"], rows=2)
    )
    for b in batches[:2]:  # the first file's first 4 rows: "a"'s clips
        acc.add(b["silhouettes"], b["sequence_id"], b["frame_start"], b["num_frames"])
    assert acc.frame_count("a") == 0 and len(acc) == 1  # "a"'s 4 clips are in: closed, its sum released
    ids, geis = stream_geis(str(tmp_path), rows=2, clips=clips)
    assert ids == ["a", "b", "c"]
    np.testing.assert_array_equal(geis, ref)
    with pytest.raises(ValueError, match="more clip rows than its manifest"):
        stream_geis(str(tmp_path), clips={"a": 3})


def test_streamed_pca_equals_scikit_learn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(4)
    geis = (rng.random((300, 1, 12)) @ rng.random((1, 12, 10)) * 25 + rng.integers(0, 20, (300, 12, 10))).astype(
        np.uint8
    )
    x = geis.reshape(300, -1) / 255.0
    ref = PCA(n_components=0.99, svd_solver="covariance_eigh").fit(x)
    pca = StreamedPca.fit(geis, 0.99, max_components=1000)
    assert pca.n_components == ref.n_components_
    got, want = pca.transform(geis), ref.transform(x)
    np.testing.assert_allclose(np.abs(got), np.abs(want), atol=1e-4)  # components agree up to sign
    assert StreamedPca.fit(geis, 0.99, max_components=3).n_components == 3


def test_clip_batches_read_only_the_asked_columns_in_file_order(tmp_path):
    write_shards(tmp_path, np.random.default_rng(1))
    batches = list(iter_clip_batches(str(tmp_path), ["sequence_id", "silhouettes"], rows=2))
    assert all(set(b) == {"sequence_id", "silhouettes"} and len(b["sequence_id"]) <= 2 for b in batches)
    assert [s for b in batches for s in b["sequence_id"]] == ["a"] * 4 + ["b"] * 3 + ["c"]
    assert batches[0]["silhouettes"].shape == (2, T, H, W) and batches[0]["silhouettes"].dtype == np.uint8
    probe = list(iter_clip_batches(str(tmp_path), ["sequence_id"], splits=["probe"]))
    assert [s for b in probe for s in b["sequence_id"]] == ["b"] * 3


def test_sequence_vectors_equal_the_clip_means_and_keep_the_svm_clips():
    rng = np.random.default_rng(2)
    ids = np.array(["g1", "p1", "g1", "v1", "p1", "p1", "t1", "g1"], dtype=object)
    vecs = rng.normal(size=(len(ids), 16)).astype(np.float32)
    split_of = {"g1": "gallery", "p1": "probe", "v1": "val", "t1": "train"}
    acc = SequenceVectors(split_of)
    for lo in range(0, len(ids), 3):  # batches of 3 rows
        acc.add(ids[lo : lo + 3], vecs[lo : lo + 3])
    expected = ClipVectors(ids, vecs).means()
    got = acc.means()
    assert set(got) == set(expected) and acc.clips == len(ids)
    for sid in expected:
        np.testing.assert_array_equal(got[sid], expected[sid])  # the same float32 sums as np.mean
    kept = acc.clip_vectors()
    svm_rows = [i for i, s in enumerate(ids) if split_of[s] in ("gallery", "val")]
    assert kept.sequence_ids.tolist() == ids[svm_rows].tolist()
    np.testing.assert_array_equal(kept.vectors, vecs[svm_rows])


def test_geis_of_a_track_that_skips_frames_count_each_source_frame_once(tmp_path):
    """A tracked person's clips skip the frames the tracker lost them in, so clip frames are numbered by
    `frame_index`, not `frame_start + t`: source frames 0-3 and 8-11 in clips starting at 0, 2 and 8 (stride 2)
    are 8 distinct frames; counting from `frame_start` would take frame 8 as "frame 4" in the second clip and
    add it again in the third."""
    rng = np.random.default_rng(5)
    source = {f: rng.integers(0, 256, (H, W), dtype=np.uint8) for f in [0, 1, 2, 3, 8, 9, 10, 11]}
    index = np.array([[0, 1, 2, 3], [2, 3, 8, 9], [8, 9, 10, 11]], np.int32)
    rows = clip_rows("a", "gallery", np.zeros((12, H, W), np.uint8), [0, 2, 8], rng)
    rows["silhouettes"] = np.stack([[source[int(f)] for f in clip] for clip in index])
    rows["num_frames"], rows["frame_index"] = [T] * 3, index
    (tmp_path / "shards").mkdir()
    pq.write_table(to_table(rows), tmp_path / "shards" / "part-0.parquet")
    ids, geis = stream_geis(str(tmp_path), rows=1)
    assert ids == ["a"]
    np.testing.assert_array_equal(geis[0], np.rint(np.mean(list(source.values()), axis=0)).astype(np.uint8))
    acc = GeiAccumulator()
    acc.add(rows["silhouettes"], np.array(["a"] * 3), np.array([0, 2, 8]), np.array([T] * 3), index)
    assert acc.frame_count("a") == 8
