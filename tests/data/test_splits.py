"""Split protocols on hand-made records: exact train/val/gallery/probe sets, unlabeled, seeded determinism."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from pipeline.ingest.manifest import SequenceRecord
from pipeline.ingest.splits import PROTOCOLS, SPLITS, assign_splits, protocol_for_layout


def rec(subject: str | None, cond: str | None, seq: int | None, view: int = 90, layout: str = "casia-b-video"):
    src = f"/data/{subject}-{cond}-{seq}-{view:03d}.mp4"
    return SequenceRecord(
        sequence_id=str(abs(hash(src))),
        source=src,
        kind="video",
        layout=layout,
        subject=subject,
        condition=cond,
        sequence=seq,
        view=view,
    )


def _casia_b_subject(subject: str, views=(0, 90), nm: int = 6, layout: str = "casia-b-video"):
    conds = [("nm", q) for q in range(1, nm + 1)] + [("bg", 1), ("bg", 2), ("cl", 1), ("cl", 2)]
    return [rec(subject, c, q, v, layout) for c, q in conds for v in views]


def _by(records, splits):
    return {(r.subject, r.condition, r.sequence, r.view): s for r, s in zip(records, splits, strict=True)}


def test_casia_b_boundary_subjects_gallery_probe_and_val():
    records = [r for s in ("001", "074", "075", "124") for r in _casia_b_subject(s)]
    records.append(rec(None, "nm", 1))
    random.Random(0).shuffle(records)  # the answer does not depend on record order
    got = _by(records, assign_splits(records, "casia-b"))
    for subject in ("001", "074"):
        for v in (0, 90):
            assert got[(subject, "nm", 6, v)] == "val"
            assert [got[(subject, "nm", q, v)] for q in range(1, 6)] == ["train"] * 5
            assert {got[(subject, c, q, v)] for c in ("bg", "cl") for q in (1, 2)} == {"train"}
    for subject in ("075", "124"):
        for v in (0, 90):
            assert [got[(subject, "nm", q, v)] for q in range(1, 7)] == ["gallery"] * 4 + ["probe"] * 2
            assert {got[(subject, c, q, v)] for c in ("bg", "cl") for q in (1, 2)} == {"probe"}
    assert got[(None, "nm", 1, 90)] == "unlabeled"
    assert assign_splits(records) == assign_splits(records, "casia-b")  # auto


def test_casia_b_val_is_the_highest_nm_sequence_and_needs_two():
    records = [*_casia_b_subject("010", views=(90,), nm=5), rec("011", "nm", 1), rec("011", "bg", 1)]
    records += [rec("200", "sh", 1), rec("080", None, None)]
    splits = assign_splits(records, "casia-b")
    got = _by(records, splits)
    assert got[("010", "nm", 5, 90)] == "val" and got[("010", "nm", 4, 90)] == "train"
    assert got[("011", "nm", 1, 90)] == "train" and got[("011", "bg", 1, 90)] == "train"
    assert got[("200", "sh", 1, 90)] == "probe" and got[("080", None, None, 90)] == "probe"
    with pytest.raises(ValueError, match="numeric"):
        assign_splits([rec("alice", "nm", 1)], "casia-b")


def test_casia_b_frames_and_silhouettes_use_casia_b():
    records = _casia_b_subject("074", layout="casia-b-silhouette") + _casia_b_subject("075", layout="casia-b-frames")
    assert assign_splits(records) == assign_splits(records, "casia-b")


def test_synthetic_split_by_subject_order():
    # 5 subjects, train_fraction 0.6 → ceil(3.0) = 3 train (001-003), 2 test (004, 005).
    seqs = [("nm", 1), ("nm", 2), ("nm", 3), ("nm", 4), ("bg", 1)]
    records = [rec(s, c, q, 90, "synthetic") for s in ("005", "001", "003", "002", "004") for c, q in seqs]
    records.append(rec(None, "nm", 1, 90, "synthetic"))
    got = _by(records, assign_splits(records))
    for s in ("001", "002", "003", "004"):
        assert got[(s, "nm", 4, 90)] == ("val" if s != "004" else "probe")
    for s in ("001", "002", "003"):
        assert [got[(s, "nm", q, 90)] for q in (1, 2, 3)] + [got[(s, "bg", 1, 90)]] == ["train"] * 4
    for s in ("004", "005"):
        assert [got[(s, "nm", q, 90)] for q in (1, 2, 3, 4)] == ["gallery", "gallery", "probe", "probe"]
        assert got[(s, "bg", 1, 90)] == "probe"
    assert got[(None, "nm", 1, 90)] == "unlabeled"
    # A test subject with one nm sequence still has one gallery sequence.
    one = [
        rec("001", "nm", 1, 90, "synthetic"),
        rec("002", "bg", 1, 90, "synthetic"),
        rec("002", "nm", 1, 90, "synthetic"),
    ]
    assert assign_splits(one, train_fraction=0.5) == ["train", "probe", "gallery"]


def test_synthetic_six_nm_gives_casia_b_gallery_and_train_fraction():
    records = [r for s in ("001", "002") for r in _casia_b_subject(s, views=(90,), layout="synthetic")]
    all_train = assign_splits(records, "synthetic")  # ceil(0.6 × 2) = 2: both train
    assert set(all_train) == {"train", "val"}
    assert [r.sequence for r, s in zip(records, all_train, strict=True) if s == "val"] == [6, 6]
    half = _by(records, assign_splits(records, "synthetic", train_fraction=0.5))
    assert [half[("002", "nm", q, 90)] for q in range(1, 7)] == ["gallery"] * 4 + ["probe"] * 2
    assert half[("001", "nm", 1, 90)] == "train" and half[("001", "nm", 1, 90)] != "gallery"
    # A training subject with a single nm sequence has no val.
    single = [rec("001", "nm", 1, 90, "synthetic"), rec("001", "bg", 1, 90, "synthetic")]
    assert assign_splits(single, "synthetic") == ["train", "train"]


def test_casia_a_first_half_trains():
    names = ["lsl", "fyc", "ljg", "hy"]  # sorted: fyc, hy | ljg, lsl
    records = [rec(n, "nm", q, v, "casia-a") for n in names for v in (0, 45, 90) for q in (1, 2, 3, 4)]
    records.append(rec(None, "nm", 1, 0, "casia-a"))
    got = _by(records, assign_splits(records))
    for n in ("fyc", "hy"):
        for v in (0, 45, 90):
            assert [got[(n, "nm", q, v)] for q in (1, 2, 3, 4)] == ["train", "train", "train", "val"]
    for n in ("ljg", "lsl"):
        for v in (0, 45, 90):
            assert [got[(n, "nm", q, v)] for q in (1, 2, 3, 4)] == ["gallery", "gallery", "probe", "probe"]
    assert got[(None, "nm", 1, 0)] == "unlabeled"
    odd = [rec(n, "nm", 1, 0, "casia-a") for n in ("a", "b", "c")]
    assert assign_splits(odd, "casia-a") == ["train", "train", "gallery"]


def _generic(subjects, per_subject=3):
    return [rec(s, None, None, v, "generic") for s in subjects for v in (0, 45, 90)[:per_subject]]


def test_subject_protocol_is_seeded_and_exact():
    subjects = [f"s{k:02d}" for k in range(10)]
    records = [*_generic(subjects), rec(None, None, None, 10, "generic")]
    splits = assign_splits(records, seed=3)  # auto → subject
    assert splits == assign_splits(records, "subject", seed=3)
    # The documented rule: default_rng(seed).permutation of the sorted subjects, first ceil(0.6 × N) train.
    order = [subjects[k] for k in np.random.default_rng(3).permutation(10)]
    train = set(order[: math.ceil(0.6 * 10)])
    expected = []
    for r in records:
        if r.subject is None:
            expected.append("unlabeled")
        elif r.subject in train:
            expected.append("val" if r.view == 90 else "train")  # last of (view 0, 45, 90)
        else:
            expected.append("gallery" if r.view == 0 else "probe")  # first half: max(1, 3 // 2) = 1
    assert splits == expected
    assert len(train) == 6


def test_subject_protocol_seed_changes_the_subject_split():
    records = _generic([f"s{k:02d}" for k in range(10)])

    def train_subjects(seed):
        return {
            r.subject for r, s in zip(records, assign_splits(records, "subject", seed), strict=True) if s == "train"
        }

    assert train_subjects(0) == train_subjects(0)
    assert train_subjects(0) != train_subjects(1)


def test_subject_protocol_small_subjects():
    # 4 test records → 2 gallery, 2 probe; 1 test record → 1 gallery; 1 training record → train.
    records = [rec("a", "nm", q, 90, "generic") for q in (4, 3, 2, 1)] + [rec("b", "nm", 1, 90, "generic")]
    assert assign_splits(records, "subject", train_fraction=0.01) in (
        ["val", "train", "train", "train", "gallery"],  # a trains (its last, nm-4, is val), b tests
        ["probe", "probe", "gallery", "gallery", "train"],  # b trains, a tests
    )
    streams = [SequenceRecord(sequence_id="x", source="0", kind="stream", layout="stream")]
    assert assign_splits(streams) == ["unlabeled"]


def test_protocol_names_and_errors():
    assert set(PROTOCOLS) == {"auto", "casia-b", "synthetic", "casia-a", "subject"}
    assert set(SPLITS) == {"train", "val", "gallery", "probe", "unlabeled"}
    assert [protocol_for_layout(x) for x in ("synthetic", "casia-a", "casia-b-video", "generic", "stream")] == [
        "synthetic",
        "casia-a",
        "casia-b",
        "subject",
        "subject",
    ]
    assert assign_splits([]) == []
    with pytest.raises(ValueError, match="protocol"):
        assign_splits([rec("001", "nm", 1)], "leave-one-out")
    with pytest.raises(ValueError, match="train_fraction"):
        assign_splits([rec("001", "nm", 1)], "subject", train_fraction=0.0)
    with pytest.raises(ValueError, match="several layouts"):
        assign_splits([rec("001", "nm", 1), rec("a", None, None, 90, "generic")])
    with pytest.raises(ValueError, match="unknown layout"):
        protocol_for_layout("casia-c")
