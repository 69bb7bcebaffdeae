"""OpenGait's packed layout (`ID/TYPE/VIEW/*.pkl`): detection, labels, protocols, the array-only unpickler,
and `gait preprocess` end to end with malicious and broken pickles among good ones. Trees are generated here."""

from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import re
from pathlib import Path

import cv2
import numpy as np
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from pipeline.cli import build_parser
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.errors import IngestError, Outcome
from pipeline.ingest.layouts import LAYOUTS, detect_layout, discover
from pipeline.ingest.manifest import manifest_to_table, table_to_manifest
from pipeline.ingest.pickle_frames import pickle_frames, silhouette_array
from pipeline.ingest.preprocess import preprocess
from pipeline.ingest.safe_pickle import NotArrays, UnsafePickle, load_arrays
from pipeline.ingest.sequence import SequenceProcessor
from pipeline.ingest.shards import read_clips
from pipeline.ingest.splits import assign_splits, auto_protocol

FRAMES = 20
CFG = PreprocessConfig(width=44, height=64, clip_len=8, stride=4, min_frames=4, rows_per_file=16)


def walk(seed: int, frames: int = FRAMES, size: int = 64) -> np.ndarray:
    """Silhouettes uint8 0/255 [T, size, size]: an ellipse body and swinging ellipse legs, drifting sideways."""
    rng = np.random.default_rng(seed)
    width, x0 = int(rng.integers(6, 10)), int(rng.integers(20, 28))
    out = np.zeros((frames, size, size), np.uint8)
    for t in range(frames):
        cx, swing = x0 + t // 2, int(6 * np.sin(t / 2))
        cv2.ellipse(out[t], (cx, 22), (width, 16), 0, 0, 360, 255, -1)
        cv2.ellipse(out[t], (cx - swing // 2, 46), (3, 14), swing * 2, 0, 360, 255, -1)
        cv2.ellipse(out[t], (cx + swing // 2, 46), (3, 14), -swing * 2, 0, 360, 255, -1)
    return out


def dump(path: Path, obj: object, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def opengait_tree(root: Path, subjects: tuple[str, ...], types: tuple[str, ...], views: tuple[str, ...]) -> Path:
    """One pickle per sequence, named after the view as OpenGait's pretreatment names it."""
    for i, subject in enumerate(subjects):
        for j, kind in enumerate(types):
            for k, view in enumerate(views):
                dump(root / subject / kind / view / f"{view}.pkl", walk(100 * i + 10 * j + k))
    return root


CASIA = (("001", "002", "075"), ("nm-01", "bg-01", "cl-01"), ("000", "090"))


class SystemCall:
    """What an attacker pickles: loading it with plain pickle runs a shell command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class Exec:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (builtins.exec, (self.code,))


# -- the unpickler --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_unpickler_accepts_arrays_and_lists_or_tuples_of_them(protocol):
    a = walk(1, frames=3)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    (got,) = load_arrays(pickle.dumps(a, protocol=protocol))
    np.testing.assert_array_equal(got, a)
    assert got.dtype == np.uint8
    for seq in ([a, b], (a, b)):
        got = load_arrays(pickle.dumps(seq, protocol=protocol))
        assert len(got) == 2 and got[1].dtype == np.float32
        np.testing.assert_array_equal(got[1], b)
    structured = np.zeros(2, dtype=[("x", "u1"), ("y", "<f4")])
    assert load_arrays(pickle.dumps(structured, protocol=protocol))[0].dtype == structured.dtype


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_unpickler_refuses_code_objects_and_non_arrays(tmp_path, protocol):
    marker = tmp_path / "ran"
    cases = [
        (SystemCall(f"touch {marker}"), UnsafePickle, "refused global posix.system"),
        (Exec(f"open({str(marker)!r}, 'w')"), UnsafePickle, "refused global "),  # __builtin__ below protocol 3
        (np.array([1, "a"], dtype=object), UnsafePickle, "object array"),
        (np.zeros(2, dtype=[("x", "O")]), UnsafePickle, "object array"),
        (np.float32(3.0), UnsafePickle, "numpy._core.multiarray.scalar"),
        (np.ma.masked_array([1, 2]), UnsafePickle, "refused global numpy.ma"),
        ((walk(1, frames=2), SystemCall(f"touch {marker}")), UnsafePickle, "posix.system"),
        ({"silhouettes": walk(1, frames=2)}, NotArrays, "holds a dict"),
        ("a string", NotArrays, "holds a str"),
        ((), NotArrays, "empty tuple"),
        ([walk(1, frames=2), 3], NotArrays, "holds a int"),
    ]
    for obj, exc, text in cases:
        with pytest.raises(exc, match=re.escape(text)):
            load_arrays(pickle.dumps(obj, protocol=protocol))
    assert not marker.exists()


def test_unpickler_refuses_persistent_ids_and_direct_constructor_calls():
    class WithIds(pickle.Pickler):
        def persistent_id(self, obj):
            return "outside" if isinstance(obj, str) else None

    buf = io.BytesIO()
    WithIds(buf, protocol=4).dump(["x"])
    with pytest.raises(UnsafePickle, match="persistent id"):
        load_arrays(buf.getvalue())
    # numpy.ndarray((big,)) called by the pickle itself would allocate before anything is checked.
    direct = b"\x80\x04cnumpy\nndarray\nJ\x00\xca\x9a\x3b\x85R."  # numpy.ndarray((10**9,))
    with pytest.raises(UnsafePickle, match=r"refused a call of numpy\.ndarray"):
        load_arrays(direct)


# -- discovery, labels and protocols ---------------------------------------------------------------------------


def _labels(records):
    return [(r.subject, r.condition, r.sequence, r.view, r.kind, r.layout, r.modality) for r in records]


def test_casia_b_tree_is_detected_with_casia_b_labels_and_protocol(tmp_path):
    root = opengait_tree(tmp_path / "CASIA-B-pkl", *CASIA)
    assert "opengait-pkl" in LAYOUTS
    assert detect_layout(pafs.LocalFileSystem(), str(root)) == "opengait-pkl"
    records, errors = discover(str(root))
    assert errors == [] and len(records) == 18
    assert _labels(records)[:3] == [
        ("001", "bg", 1, 0, "pickles", "opengait-pkl", "silhouette"),
        ("001", "bg", 1, 90, "pickles", "opengait-pkl", "silhouette"),
        ("001", "cl", 1, 0, "pickles", "opengait-pkl", "silhouette"),
    ]
    r = records[0]
    assert r.source == str(root / "001/bg-01/000") and r.frames == (str(root / "001/bg-01/000/000.pkl"),)
    assert table_to_manifest(manifest_to_table(records)) == records
    assert auto_protocol(records) == "casia-b"
    split = {(r.subject, r.condition, r.view): s for r, s in zip(records, assign_splits(records), strict=True)}
    assert split[("001", "nm", 0)] == split[("002", "cl", 90)] == "train"
    assert split[("075", "nm", 90)] == "gallery" and split[("075", "bg", 0)] == split[("075", "cl", 0)] == "probe"


def test_other_datasets_get_their_labels_and_the_subject_protocol(tmp_path):
    root = tmp_path / "OUMVLP-pkl"
    for i, (subject, kind, view) in enumerate(
        [("00001", "00", "000"), ("00001", "01", "195"), ("00002", "00", "090"), ("00003", "4XPn5Z28", "000")]
    ):
        dump(root / subject / kind / view / "x.pkl", walk(i))
    records, errors = discover(str(root))
    assert errors == [] and {r.layout for r in records} == {"opengait-pkl"}
    assert [(r.subject, r.condition, r.sequence, r.view) for r in records] == [
        ("00001", None, 0, 0),
        ("00001", None, 1, 195),  # OU-MVLP's return walk
        ("00002", None, 0, 90),
        ("00003", None, None, 0),  # GREW/Gait3D-like type: kept in the source path and the sequence id
    ]
    assert records[3].source.endswith("00003/4XPn5Z28/000")
    assert auto_protocol(records) == "subject"
    assert set(assign_splits(records)) <= {"train", "val", "gallery", "probe"}
    # A CASIA-B tree with one subject that is not CASIA-B's is not CASIA-B any more.
    casia = opengait_tree(tmp_path / "mixed", *CASIA)
    dump(casia / "x1" / "nm-01" / "000" / "000.pkl", walk(7))
    assert auto_protocol(discover(str(casia))[0]) == "subject"


def test_forced_layout_misplaced_pickles_and_other_inputs(tmp_path):
    root = opengait_tree(tmp_path / "t", ("001",), ("nm-01",), ("000", "090"))
    dump(root / "stray.pkl", walk(1))  # directly in SRC
    dump(root / "001" / "nm-01" / "deeper" / "090" / "a.pkl", walk(2))
    (root / "001" / "clip.mp4").write_bytes(b"not really")
    (root / "notes.txt").write_text("ignored")
    records, errors = discover(str(root))  # 2 good of 5 inputs, but pickle folders are the majority
    assert len(records) == 2 and {r.layout for r in records} == {"opengait-pkl"}
    why = {Path(e.source).name: (e.error_type, e.message) for e in errors}
    assert set(why) == {"t", "090", "clip.mp4"}
    assert all(t == "LayoutMismatch" and "<id>/<type>/<view>/*.pkl" in m for t, m in why.values())
    assert why["clip.mp4"][1].startswith("a video file")
    assert discover(str(root), layout="opengait-pkl")[0] == records
    # Pickles are inputs only of this layout: elsewhere they are ignored, as before.
    assert all(r.kind != "pickles" for r in discover(str(root), layout="generic")[0])
    png = tmp_path / "png" / "001" / "nm-01" / "000"
    png.mkdir(parents=True)
    cv2.imwrite(str(png / "001.png"), walk(1)[0])
    with pytest.raises(ValueError, match="'opengait-pkl' matches nothing"):
        discover(str(tmp_path / "png"), layout="opengait-pkl")
    args = build_parser().parse_args(["preprocess", str(root), "out", "--layout", "opengait-pkl"])
    assert args.layout == "opengait-pkl"


# -- frames out of the pickles ------------------------------------------------------------------------------------


def test_which_array_becomes_the_silhouettes(tmp_path):
    sil = walk(3)
    rgb = np.random.default_rng(0).integers(0, 256, (FRAMES, 64, 64, 3), dtype=np.uint8)
    pose = np.zeros((FRAMES, 17, 3), np.float32)
    folder = tmp_path / "001" / "nm-01" / "090"
    uris = [
        str(dump(folder / "a-rgb.pkl", rgb)),
        str(dump(folder / "b-pose.pkl", pose)),
        str(dump(folder / "c-sil.pkl", sil > 127)),  # bool: becomes 0/255
        str(dump(folder / "d-evil.pkl", SystemCall("true"))),  # after the silhouettes: never opened
    ]
    np.testing.assert_array_equal(silhouette_array(uris[::-1]), sil)
    np.testing.assert_array_equal(silhouette_array([uris[1], str(dump(folder / "e.pkl", sil[..., None] // 255))]), sil)
    grey = silhouette_array(uris[:2])  # no silhouette array: the RGB one, as grey
    np.testing.assert_array_equal(
        grey, cv2.cvtColor(rgb.reshape(-1, 64, 3), cv2.COLOR_RGB2GRAY).reshape(FRAMES, 64, 64)
    )
    with pytest.raises(IngestError, match=re.escape("b-pose.pkl holds float32 [20, 17, 3]")) as err:
        silhouette_array(uris[1:2])
    assert err.value.error_type == "NoSilhouettes"
    with pytest.raises(IngestError, match=re.escape("d-evil.pkl: refused global posix.system")):
        silhouette_array(uris[1:2] + uris[3:])
    frames = list(pickle_frames(uris[2:3], max_pixels=10_000, max_frames=5))
    assert len(frames) == 5 and frames[0].shape == (64, 64, 3)
    with pytest.raises(IngestError, match="over the limit of 100"):
        list(pickle_frames(uris[2:3], max_pixels=100))


def test_pickled_and_png_silhouettes_give_the_same_clips(tmp_path):
    """The same frames as OpenGait pickles and as a CASIA-B silhouette PNG tree flow through the same steps."""
    sil = walk(5)
    dump(tmp_path / "pkl" / "001" / "nm-01" / "090" / "090.pkl", sil)
    png = tmp_path / "png" / "001" / "nm-01" / "090"
    png.mkdir(parents=True)
    for t, f in enumerate(sil):
        cv2.imwrite(str(png / f"001-nm-01-090-{t + 1:03d}.png"), f)
    processor = SequenceProcessor(CFG, CFG.hash(), with_joints=False)
    out = {}
    for name in ("pkl", "png"):
        (rec,) = discover(str(tmp_path / name))[0]
        assert rec.modality == "silhouette"
        row = manifest_to_table([rec]).to_pylist()[0] | {"split": "train"}
        outcome = Outcome(rec.sequence_id, rec.source)
        batches = list(processor.clips(row, outcome))
        out[name] = {k: np.concatenate([b[k] for b in batches]) for k in ("frames", "silhouettes", "boxes")}
        assert outcome.frames == FRAMES and outcome.clips == 4
    for k in ("frames", "silhouettes", "boxes"):
        np.testing.assert_array_equal(out["pkl"][k], out["png"][k])
    assert out["pkl"]["silhouettes"].shape == (4, 8, 64, 44) and out["pkl"]["silhouettes"].max() == 255


# -- gait preprocess end to end ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_tree(tmp_path_factory) -> tuple[Path, Path]:
    """The CASIA-B-like tree with bad sequences added, each in its own CASIA-B-named folder."""
    base = tmp_path_factory.mktemp("og")
    root = opengait_tree(base / "CASIA-B-pkl", *CASIA)
    marker = base / "pwned"
    dump(root / "002" / "nm-02" / "000" / "000.pkl", SystemCall(f"touch {marker}"))
    dump(root / "002" / "nm-02" / "090" / "090.pkl", Exec(f"open({str(marker)!r}, 'w').write('x')"))
    dump(root / "002" / "nm-03" / "000" / "000.pkl", np.array([walk(1)[0], None], dtype=object))
    dump(root / "002" / "nm-03" / "090" / "090.pkl", {"sil": walk(1)})
    good = pickle.dumps(walk(9))
    (root / "075" / "nm-02" / "000").mkdir(parents=True)
    (root / "075" / "nm-02" / "000" / "000.pkl").write_bytes(good[: len(good) // 2])  # truncated
    dump(root / "075" / "nm-02" / "090" / "090.pkl", walk(9, frames=2))  # too short
    return root, marker


EXPECTED_ERRORS = {
    "002/nm-02/000": ("decode", "UnsafePickle", "000.pkl: refused global posix.system"),
    "002/nm-02/090": ("decode", "UnsafePickle", "090.pkl: refused global builtins.exec"),
    "002/nm-03/000": ("decode", "UnsafePickle", "000.pkl: an object array"),
    "002/nm-03/090": ("decode", "NotAnArray", "090.pkl holds a dict"),
    "075/nm-02/000": ("decode", "UnreadablePickle", "000.pkl is not a readable pickle"),
    "075/nm-02/090": ("window", "TooShort", "2 frame(s)"),
}


def test_preprocess_writes_silhouette_shards_and_one_error_row_per_bad_pickle(hostile_tree, tmp_path, ray_local):
    root, marker = hostile_tree
    out = tmp_path / "shards"
    summary = preprocess(str(root), str(out), CFG)
    assert not marker.exists(), "a pickle's code ran"
    meta = json.loads((out / "_manifest.json").read_text())
    assert meta["layout"] == "opengait-pkl" and meta["protocol"] == "casia-b"
    counts = meta["counts"]
    assert counts["discovered"] == 24 == counts["written"] + counts["failed"]
    assert (summary.written, summary.failed) == (18, 6)
    assert counts["clips"] == 18 * 4 and counts["frames"] == 18 * FRAMES
    errors = {e["source"][len(str(root)) + 1 :]: e for e in pq.read_table(out / "errors.parquet").to_pylist()}
    assert set(errors) == set(EXPECTED_ERRORS)
    for rel, (stage, etype, text) in EXPECTED_ERRORS.items():
        e = errors[rel]
        assert (e["stage"], e["error_type"]) == (stage, etype) and text in e["message"], e
    ds = read_clips(str(out))
    assert ds.count() == 72
    row = ds.take(1)[0]
    assert row["silhouettes"].shape == (8, 64, 44) and row["frames"].shape == (8, 64, 44, 3)
    assert row["silhouettes"].max() == 255 and row["detected"].all()
    shards = pq.read_table(out / "shards", columns=["subject", "condition", "view", "layout", "split"]).to_pylist()
    assert {r["layout"] for r in shards} == {"opengait-pkl"}
    assert {(r["subject"], r["split"]) for r in shards} == {
        ("001", "train"),
        ("002", "train"),
        ("075", "gallery"),
        ("075", "probe"),
    }
