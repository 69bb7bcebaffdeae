"""Split protocols: which sequences train the model, which validate it, and which are gallery or probe.

Every protocol splits by subject, so no test person is ever seen in training; within test subjects it picks
the gallery (enrolled) and probe (queried) sequences. Records without a subject are "unlabeled" everywhere.

- `casia-b`, the field's protocol (DESIGN §4): subjects 001–074 train, 075–124 (by integer id, and any above)
  test. Test subjects: gallery nm-01..04; probes nm-05/06, bg-01/02, cl-01/02 and any other sequence.
  Training subjects: their highest-numbered nm sequence (nm-06 in CASIA-B), every view of it, is "val" for
  the training loop's validation (this project's choice; the field reports no validation split) when they
  have at least two nm sequences; the rest is "train". With `val_subjects` N > 0 (the real-CASIA-B presets:
  12), the last N training subjects (063–074) are validation people instead, every walk of theirs "val", so
  that training early-stops on people it never saw, as the test measures.
- `synthetic`: the same rules on generated data of any size: the first ceil(train_fraction × N) subjects
  (sorted) train, the rest test; a test subject's gallery is its first max(1, n_nm − 2) nm sequences
  (CASIA-B: 4 of 6), the rest probe; val is a training subject's highest-numbered nm sequence if it has ≥ 2.
- `casia-a`: subjects sorted by name; the first ceil(N / 2) train, the rest test. Test: sequences 1–2
  gallery, 3–4 (and any other) probe; train: sequence 4 val, the rest train. The original CASIA-A
  experiments used leave-one-out cross-validation; this fixed split is the project's, so results are not
  comparable one to one with those papers.
- `subject`, for any labeled data (generic layouts, streams): the distinct subjects shuffled with
  numpy.random.default_rng(seed); the first ceil(train_fraction × N) train, the rest test. A test subject's
  records, sorted by (condition, sequence, view, source), give the first half (at least one) as gallery and
  the rest as probe; a training subject with ≥ 2 records gives its last as val.
- `auto`: chosen from the records' layout by `protocol_for_layout`, except OpenGait's packed layout, which holds
  CASIA-B as well as OU-MVLP, GREW and Gait3D: `casia-b` when every record has CASIA-B's labels (three-digit
  subject, type nm/bg/cl-<n>), `subject` otherwise (`auto_protocol`).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from pipeline.ingest.manifest import SequenceRecord

PROTOCOLS = ("auto", "casia-b", "synthetic", "casia-a", "subject")
SPLITS = ("train", "val", "gallery", "probe", "unlabeled")
CASIA_B_LAST_TRAIN_SUBJECT = 74
CASIA_B_GALLERY_NM = (1, 2, 3, 4)
CASIA_A_GALLERY = (1, 2)
CASIA_A_VAL = 4

_BY_LAYOUT = {
    "synthetic": "synthetic",
    "casia-a": "casia-a",
    "casia-b-video": "casia-b",
    "casia-b-frames": "casia-b",
    "casia-b-silhouette": "casia-b",
    "opengait-pkl": "subject",  # unless its labels are CASIA-B's: see auto_protocol
    "generic": "subject",
    "stream": "subject",
}


def protocol_for_layout(layout: str) -> str:
    """The protocol "auto" uses for records of this layout."""
    if layout not in _BY_LAYOUT:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(_BY_LAYOUT)}")
    return _BY_LAYOUT[layout]


def _natural(subject: str) -> tuple[int, int, str]:
    return (0, int(subject), subject) if subject.isdigit() else (1, 0, subject)


def _nm_numbers(recs: list[SequenceRecord]) -> list[int]:
    return sorted({r.sequence for r in recs if r.condition == "nm" and r.sequence is not None})


def _casia_like(
    by_subject: dict[str, list[int]],
    records: Sequence[SequenceRecord],
    train: set[str],
    casia_b_gallery: bool,
    val_subjects: int = 0,
) -> dict[int, str]:
    """Train/val and gallery/probe by nm sequence number; the gallery is CASIA-B's nm-01..04 or the first n_nm − 2.
    With `val_subjects` > 0, the last that many training subjects are validation people instead: every
    sequence of theirs is "val", and no training subject's walk is held out."""
    out: dict[int, str] = {}
    held_out = set(sorted(train, key=_natural)[-val_subjects:]) if val_subjects > 0 else set()
    if held_out and len(held_out) >= len(train):
        raise ValueError(f"val_subjects ({val_subjects}) must leave training subjects (there are {len(train)})")
    for subject, idx in by_subject.items():
        recs = [records[i] for i in idx]
        nm = _nm_numbers(recs)
        if subject in held_out:
            out.update((i, "val") for i in idx)
        elif subject in train and held_out:
            out.update((i, "train") for i in idx)
        elif subject in train:
            val = nm[-1] if len(nm) >= 2 else None
            for i, r in zip(idx, recs, strict=True):
                out[i] = "val" if r.condition == "nm" and val is not None and r.sequence == val else "train"
        else:
            gallery = set(CASIA_B_GALLERY_NM) if casia_b_gallery else set(nm[: max(1, len(nm) - 2)])
            for i, r in zip(idx, recs, strict=True):
                out[i] = "gallery" if r.condition == "nm" and r.sequence in gallery else "probe"
    return out


def _casia_b(
    by_subject: dict[str, list[int]], records: Sequence[SequenceRecord], val_subjects: int = 0
) -> dict[int, str]:
    train = set()
    for s in by_subject:
        if not s.isdigit():
            raise ValueError(f"the casia-b protocol needs numeric subject ids (001–124), not {s!r}")
        if int(s) <= CASIA_B_LAST_TRAIN_SUBJECT:
            train.add(s)
    return _casia_like(by_subject, records, train, True, val_subjects)


def _synthetic(
    by_subject: dict[str, list[int]], records: Sequence[SequenceRecord], train_fraction: float, val_subjects: int = 0
) -> dict[int, str]:
    ordered = sorted(by_subject, key=_natural)
    train = set(ordered[: math.ceil(train_fraction * len(ordered))])
    return _casia_like(by_subject, records, train, False, val_subjects)


def _casia_a(by_subject: dict[str, list[int]], records: Sequence[SequenceRecord]) -> dict[int, str]:
    ordered = sorted(by_subject, key=_natural)
    train = set(ordered[: math.ceil(len(ordered) / 2)])
    out = {}
    for subject, idx in by_subject.items():
        for i in idx:
            seq = records[i].sequence
            if subject in train:
                out[i] = "val" if seq == CASIA_A_VAL else "train"
            else:
                out[i] = "gallery" if seq in CASIA_A_GALLERY else "probe"
    return out


def _subject(
    by_subject: dict[str, list[int]], records: Sequence[SequenceRecord], seed: int, train_fraction: float
) -> dict[int, str]:
    ordered = sorted(by_subject, key=_natural)
    shuffled = [ordered[k] for k in np.random.default_rng(seed).permutation(len(ordered))]
    train = set(shuffled[: math.ceil(train_fraction * len(shuffled))])
    out = {}
    for subject, idx in by_subject.items():
        idx = sorted(idx, key=lambda i: records[i].sort_key())
        if subject in train:
            for k, i in enumerate(idx):
                out[i] = "val" if len(idx) >= 2 and k == len(idx) - 1 else "train"
        else:
            n_gallery = max(1, len(idx) // 2)
            for k, i in enumerate(idx):
                out[i] = "gallery" if k < n_gallery else "probe"
    return out


def _casia_b_labels(r: SequenceRecord) -> bool:
    return bool(r.subject and re.fullmatch(r"\d{3}", r.subject)) and r.condition in ("nm", "bg", "cl")


def auto_protocol(records: Sequence[SequenceRecord]) -> str:
    """The protocol "auto" picks for these records (ValueError if their layouts need different ones)."""
    protocols = {protocol_for_layout(r.layout) for r in records if r.layout != "opengait-pkl"}
    opengait = [r for r in records if r.layout == "opengait-pkl"]
    if opengait:
        protocols.add("casia-b" if all(_casia_b_labels(r) for r in opengait) else "subject")
    if len(protocols) > 1:
        raise ValueError(f"records of several layouts need different protocols {sorted(protocols)}; name one")
    return protocols.pop() if protocols else "subject"


def assign_splits(
    records: Sequence[SequenceRecord],
    protocol: str = "auto",
    seed: int = 0,
    train_fraction: float = 0.6,
    val_subjects: int = 0,
) -> list[str]:
    """One split per record, in record order: train, val, gallery, probe or unlabeled (see the module doc).
    `val_subjects` (casia-b, synthetic): validation people, held out of training whole, instead of held-out walks."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown split protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], not {train_fraction}")
    if protocol == "auto":
        protocol = auto_protocol(records)
    by_subject: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        if r.subject is not None:
            by_subject[r.subject].append(i)
    if protocol == "casia-b":
        labeled = _casia_b(by_subject, records, val_subjects)
    elif protocol == "synthetic":
        labeled = _synthetic(by_subject, records, train_fraction, val_subjects)
    elif protocol == "casia-a":
        labeled = _casia_a(by_subject, records)
    else:
        labeled = _subject(by_subject, records, seed, train_fraction)
    return [labeled.get(i, "unlabeled") for i in range(len(records))]
