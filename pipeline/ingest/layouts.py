"""Dataset layouts → manifest records: what a directory tree (or a stream) holds and what its names say.

One listing of SRC feeds every rule. Inputs are video files (mp4/avi/mkv/mov/webm, by extension, broken or
not), frame folders (directories that directly hold png/jpg/jpeg/bmp files) and, for OpenGait's packed layout
only, pickle folders (directories that directly hold .pkl files); everything else is ignored, as are hidden
files and folders (names starting with "."). Each layout parses an input's path into labels or
rejects it; a rejected input becomes an `InputError` (LayoutMismatch) rather than disappearing. Auto-detection
takes the first layout, in the order of `DETECTION_ORDER`, that accepts at least half of the inputs.
See docs/data-layouts.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np
import pyarrow.fs as pafs

from pipeline.common import storage
from pipeline.common.synthetic_format import INDEX_FILE, is_synthetic_index
from pipeline.ingest.manifest import InputError, SequenceRecord, sequence_id

LAYOUTS = (
    "synthetic",
    "casia-a",
    "casia-b-video",
    "casia-b-frames",
    "casia-b-silhouette",
    "opengait-pkl",
    "generic",
    "stream",
)
DETECTION_ORDER = (
    "stream",
    "single file",
    "synthetic",
    "casia-a",
    "casia-b-video",
    "casia-b-frames",
    "opengait-pkl",
    "generic",
)
VIDEO_EXTS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm"})
IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp"})
PICKLE_EXT = ".pkl"
# Files whose change can change what preprocessing makes: inputs, ground truth (.npz), dataset indexes (.json).
STAMPED_EXTS = VIDEO_EXTS | IMAGE_EXTS | {PICKLE_EXT, ".npz", ".json"}
CONDITIONS = ("nm", "bg", "cl", "sh")

_CASIA_B_VIDEO = re.compile(r"(\d{3,})-(nm|bg|cl|sh)-(\d+)-(\d{3})", re.I)
_CASIA_B_PLATE = re.compile(r"(\d{3,})-bkgrd-(\d{3})", re.I)
_CASIA_B_DIR = re.compile(r"(?:(.*)/)?(\d{3,})/(nm|bg|cl|sh)-(\d+)/(\d{3})", re.I)
_CASIA_B_PLATE_DIR = re.compile(r"(?:(.*)/)?(\d{3,})/bkgrd/(\d{3})", re.I)
_CASIA_A_DIR = re.compile(r"(?:^|/)(gaitdb/([^/]+)/(\d{2})_(\d+))$")
_CASIA_A_VIEWS = (0, 45, 90)
_COND_PART = re.compile(r"(nm|bg|cl|sh)-(\d+)", re.I)
_COND_IN_STEM = re.compile(r"(?<![a-z0-9])(nm|bg|cl|sh)-(\d+)(?![0-9])", re.I)
_TRAILING_NUMBER = re.compile(r"(\d+)$")
_OPENGAIT_VIEWS = range(360)  # OU-MVLP's return walks are 180–270

_MISMATCH = {
    "casia-a": "does not follow the CASIA-A tree gaitdb/<name>/<view>_<seq>/ with views 00, 45, 90",
    "casia-b-video": "does not follow the CASIA-B naming <subject>-<cond>-<seq>-<view>",
    "casia-b-frames": "does not follow the CASIA-B frame tree <subject>/<cond>-<seq>/<view>/",
    "opengait-pkl": "does not follow the OpenGait tree <id>/<type>/<view>/*.pkl (SRC holds the <id> folders)",
}
_MISMATCH["casia-b-silhouette"] = _MISMATCH["casia-b-frames"]


@dataclass(frozen=True)
class _Hit:
    """What a layout's naming says about one input."""

    key: str  # the path the sequence id hashes
    subject: str | None = None
    condition: str | None = None
    sequence: int | None = None
    view: int | None = None
    plate: bool = False  # an empty-scene background plate, not a sequence
    group: str = ""  # plates attach within a group (CASIA-B trees: the folder above the subject folders)


@dataclass
class _Tree:
    """One listing of SRC: its video files and frame folders, as posix paths relative to root."""

    fs: pafs.FileSystem
    root: str
    files: set[str] = field(default_factory=set)
    videos: list[str] = field(default_factory=list)
    folders: dict[str, list[str]] = field(default_factory=dict)  # folder → its image files in frame order
    pickles: dict[str, list[str]] = field(default_factory=dict)  # folder → its .pkl files by name
    frame_tree_layouts: dict[str, str] | None = None  # CASIA-B frame trees: group → layout, decided once
    stamp: Any = field(default_factory=hashlib.sha256)  # the stamped files' paths, sizes and times, in order

    @classmethod
    def scan(cls, fs: pafs.FileSystem, root: str) -> _Tree:
        tree = cls(fs, root.rstrip("/") or "/")
        prefix = tree.root.rstrip("/") + "/"
        for info in storage.list_file_infos(fs, tree.root):
            path = info.path
            rel = path[len(prefix) :] if path.startswith(prefix) else path
            if any(part.startswith(".") for part in rel.split("/")):
                continue
            tree.add(rel, info)
        tree.finish()
        return tree

    def add(self, rel: str, info: pafs.FileInfo) -> None:
        self.files.add(rel)
        ext = posixpath.splitext(rel)[1].lower()
        if ext in STAMPED_EXTS:
            mtime = info.mtime_ns if info.mtime_ns is not None else ""
            self.stamp.update(f"{rel}\t{info.size}\t{mtime}\n".encode())
        if ext in VIDEO_EXTS:
            self.videos.append(rel)
        elif ext in IMAGE_EXTS:
            self.folders.setdefault(posixpath.dirname(rel), []).append(rel)
        elif ext == PICKLE_EXT:
            self.pickles.setdefault(posixpath.dirname(rel), []).append(rel)

    def finish(self) -> None:
        self.videos.sort()
        self.folders = {d: sorted(imgs, key=_frame_order) for d, imgs in sorted(self.folders.items())}
        self.pickles = {d: sorted(pkls) for d, pkls in sorted(self.pickles.items())}

    @property
    def num_inputs(self) -> int:
        return len(self.videos) + len(self.folders) + len(self.pickles)

    def path(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if rel else self.root

    def uri(self, rel: str) -> str:
        return storage.to_uri(self.fs, self.path(rel))

    def id_key(self, rel: str) -> str:
        return rel or posixpath.basename(self.root)


def _frame_order(rel: str) -> tuple[int, str]:
    m = _TRAILING_NUMBER.search(posixpath.splitext(posixpath.basename(rel))[0])
    return (int(m.group(1)) if m else -1, rel)


def _view(text: str) -> int | None:
    v = int(text)
    return v if 0 <= v <= 180 else None


# -- per-layout parsing: input path → _Hit, or None when the input does not fit the layout ------------------


def _casia_b_video(tree: _Tree, rel: str) -> _Hit | None:
    stem = posixpath.splitext(posixpath.basename(rel))[0]
    if m := _CASIA_B_PLATE.fullmatch(stem):
        view = _view(m.group(2))
        return None if view is None else _Hit(rel, m.group(1), view=view, plate=True)
    if m := _CASIA_B_VIDEO.fullmatch(stem):
        view = _view(m.group(4))
        if view is not None:
            return _Hit(rel, m.group(1), m.group(2).lower(), int(m.group(3)), view)
    return None


def _casia_b_folder(tree: _Tree, rel: str) -> _Hit | None:
    if m := _CASIA_B_PLATE_DIR.fullmatch(rel):
        view = _view(m.group(3))
        return None if view is None else _Hit(rel, m.group(2), view=view, plate=True, group=m.group(1) or "")
    if m := _CASIA_B_DIR.fullmatch(rel):
        view = _view(m.group(5))
        if view is not None:
            return _Hit(rel, m.group(2), m.group(3).lower(), int(m.group(4)), view, group=m.group(1) or "")
    return None


def _casia_a_folder(tree: _Tree, rel: str) -> _Hit | None:
    # The root may be gaitdb/ itself or a folder above it; ids hash the path from gaitdb/ on either way.
    full = f"gaitdb/{rel}" if posixpath.basename(tree.root) == "gaitdb" else rel
    m = _CASIA_A_DIR.search(full)
    if m is None or int(m.group(3)) not in _CASIA_A_VIEWS:
        return None
    seq = int(m.group(4))
    # Sequence 0 is where the synthetic generator puts a view's background plate.
    return _Hit(m.group(1), m.group(2), None if seq == 0 else "nm", seq or None, int(m.group(3)), plate=seq == 0)


def _opengait_folder(rel: str) -> _Hit | None:
    """`<id>/<type>/<view>` right below SRC. A CASIA-B type (`nm-01`) gives condition and sequence, a number
    (OU-MVLP's `00`, `01`) the sequence, anything else (GREW, Gait3D) neither: it stays in the source path and
    the sequence id. A number 0–359 is the view."""
    parts = rel.split("/")
    if len(parts) != 3 or not all(parts):
        return None
    subject, kind, view_text = parts
    condition = sequence = view = None
    if m := _COND_PART.fullmatch(kind):
        condition, sequence = m.group(1).lower(), int(m.group(2))
    elif kind.isdigit():
        sequence = int(kind)
    if view_text.isdigit() and int(view_text) in _OPENGAIT_VIEWS:
        view = int(view_text)
    return _Hit(rel, subject, condition, sequence, view)


def _generic(rel: str, is_video: bool) -> _Hit:
    """`<subject>/**/<input>` → subject; inputs directly in root are unlabeled. Condition and view: best effort."""
    parts = [p for p in rel.split("/") if p]
    dirs, stem = (parts[:-1], posixpath.splitext(parts[-1])[0]) if is_video else (parts, "")
    subject = dirs[0] if is_video and dirs else (parts[0] if len(parts) > 1 else None)
    below = dirs[1:] if subject is not None else dirs
    condition = sequence = view = None
    for part in below:
        if m := _COND_PART.fullmatch(part):
            condition, sequence = m.group(1).lower(), int(m.group(2))
    if stem and (found := _COND_IN_STEM.findall(stem)):
        condition, sequence = found[-1][0].lower(), int(found[-1][1])
    for token in [*below, *re.split(r"[-_ .]+", stem)]:
        if re.fullmatch(r"\d{3}", token) and (v := _view(token)) is not None:
            view = v
    return _Hit(rel, subject, condition, sequence, view)


_Parser = Callable[[_Tree, str], "_Hit | None"]


def _never(tree: _Tree, rel: str) -> None:
    return None


_PARSERS: dict[str, tuple[_Parser, _Parser]] = {  # layout → (video parser, frame-folder parser)
    "casia-a": (_never, _casia_a_folder),
    "casia-b-video": (_casia_b_video, _never),
    "casia-b-frames": (_never, _casia_b_folder),
    "casia-b-silhouette": (_never, _casia_b_folder),
    "generic": (lambda t, rel: _generic(rel, True), lambda t, rel: _generic(rel, False)),
}


def _accepted(tree: _Tree, layout: str) -> int:
    on_video, on_folder = _PARSERS[layout]
    return sum(on_video(tree, v) is not None for v in tree.videos) + sum(
        on_folder(tree, d) is not None for d in tree.folders
    )


# -- modality of a CASIA-B frame tree ------------------------------------------------------------------------


def _is_silhouette_image(fs: pafs.FileSystem, path: str) -> bool:
    """Single-channel, or only the values 0 and 255: a binary mask rather than a photograph."""
    try:
        img = cv2.imdecode(np.frombuffer(storage.read_bytes(fs, path), np.uint8), cv2.IMREAD_UNCHANGED)
    except OSError:
        return False
    if img is None:
        return False
    if img.ndim == 2 or img.shape[2] == 1:
        return True
    return bool(np.isin(img[..., :3], (0, 255)).all())


def _frame_tree_layouts(tree: _Tree) -> dict[str, str]:
    """casia-b-silhouette or casia-b-frames per group, from ONE image of each (a group is one dataset)."""
    if tree.frame_tree_layouts is None:
        out: dict[str, str] = {}
        for rel in tree.folders:
            hit = _casia_b_folder(tree, rel)
            if hit is not None and not hit.plate and hit.group not in out:
                silhouette = _is_silhouette_image(tree.fs, tree.path(tree.folders[rel][0]))
                out[hit.group] = "casia-b-silhouette" if silhouette else "casia-b-frames"
        tree.frame_tree_layouts = out
    return tree.frame_tree_layouts


# -- building records -----------------------------------------------------------------------------------------


def _from_parsers(tree: _Tree, layout: str, forced: bool) -> tuple[list[SequenceRecord], list[InputError]]:
    on_video, on_folder = _PARSERS[layout]
    errors: list[InputError] = []
    video_hits: dict[str, _Hit] = {}
    folder_hits: dict[str, _Hit] = {}
    for rel in tree.videos:
        if (hit := on_video(tree, rel)) is None:
            why = _MISMATCH[layout] if layout == "casia-b-video" else f"a video file; {_MISMATCH[layout]}"
            errors.append(InputError(tree.uri(rel), "discover", "LayoutMismatch", why))
        else:
            video_hits[rel] = hit
    for rel in tree.folders:
        if (hit := on_folder(tree, rel)) is None:
            why = f"a frame folder; {_MISMATCH[layout]}" if layout == "casia-b-video" else _MISMATCH[layout]
            errors.append(InputError(tree.uri(rel), "discover", "LayoutMismatch", why))
        else:
            folder_hits[rel] = hit

    per_group: dict[str, str] = {}
    if layout in ("casia-b-frames", "casia-b-silhouette") and not forced:
        per_group = _frame_tree_layouts(tree)

    plates: dict[tuple[str, str | None, int | None], str] = {}
    found: list[tuple[_Hit, SequenceRecord]] = []
    for rel, hit in [*video_hits.items(), *folder_hits.items()]:
        if hit.plate:
            plates.setdefault((hit.group, hit.subject, hit.view), tree.uri(rel))
            continue
        name = per_group.get(hit.group, layout)
        is_frames = rel in folder_hits
        record = SequenceRecord(
            sequence_id=sequence_id(tree.id_key(hit.key)),
            source=tree.uri(rel),
            kind="frames" if is_frames else "video",
            layout=name,
            frames=tuple(tree.uri(f) for f in tree.folders[rel]) if is_frames else None,
            subject=hit.subject,
            condition=hit.condition,
            sequence=hit.sequence,
            view=hit.view,
            modality="silhouette" if name == "casia-b-silhouette" else "rgb",
        )
        found.append((hit, record))
    records = [replace(r, background=plates.get((h.group, h.subject, h.view))) for h, r in found]
    return records, errors


def _from_opengait(tree: _Tree) -> tuple[list[SequenceRecord], list[InputError]]:
    """Pickle folders as silhouette sequences; videos, frame folders and misplaced pickle folders are mismatches."""
    why = _MISMATCH["opengait-pkl"]
    errors = [InputError(tree.uri(r), "discover", "LayoutMismatch", f"a video file; {why}") for r in tree.videos]
    errors += [InputError(tree.uri(r), "discover", "LayoutMismatch", f"a frame folder; {why}") for r in tree.folders]
    records = []
    for rel, pkls in tree.pickles.items():
        if (hit := _opengait_folder(rel)) is None:
            errors.append(InputError(tree.uri(rel), "discover", "LayoutMismatch", why))
            continue
        records.append(
            SequenceRecord(
                sequence_id=sequence_id(tree.id_key(hit.key)),
                source=tree.uri(rel),
                kind="pickles",
                layout="opengait-pkl",
                frames=tuple(tree.uri(p) for p in pkls),
                subject=hit.subject,
                condition=hit.condition,
                sequence=hit.sequence,
                view=hit.view,
                modality="silhouette",
            )
        )
    return records, errors


def _synth_meta(tree: _Tree) -> dict | None:
    if INDEX_FILE not in tree.files:
        return None
    try:
        meta = json.loads(storage.read_bytes(tree.fs, tree.path(INDEX_FILE)))
    except (OSError, ValueError):
        return None
    return meta if is_synthetic_index(meta) else None


def _from_synthetic(tree: _Tree, meta: dict) -> tuple[list[SequenceRecord], list[InputError]]:
    """The generator's own list (dataset.json); its bkgrd entries are plates for the same subject and view."""
    errors: list[InputError] = []
    listed: set[str] = set()
    found: list[tuple[dict, str, bool]] = []  # (entry, rel, is_frames)
    for e in meta.get("sequences", []):
        listed.update(e[k] for k in ("video", "frames", "silhouettes") if e.get(k))
        if e.get("video") in tree.files:
            found.append((e, e["video"], False))
        elif e.get("frames") in tree.folders:
            found.append((e, e["frames"], True))
        else:
            where = e.get("video") or e.get("frames") or e.get("id", "?")
            msg = f"dataset.json lists {e.get('id')} but its video or frame folder is missing"
            errors.append(InputError(tree.uri(where), "discover", "MissingFile", msg))

    plates = {(e["subject"], e["view"]): tree.uri(rel) for e, rel, _ in found if e.get("condition") == "bkgrd"}
    records = []
    for e, rel, is_frames in found:
        if e.get("condition") == "bkgrd":
            continue
        ann = e.get("annotation")
        records.append(
            SequenceRecord(
                sequence_id=sequence_id(rel),
                source=tree.uri(rel),
                kind="frames" if is_frames else "video",
                layout="synthetic",
                frames=tuple(tree.uri(f) for f in tree.folders[rel]) if is_frames else None,
                subject=str(e["subject"]),
                condition=e.get("condition"),
                sequence=e.get("sequence"),
                view=e.get("view"),
                annotation=tree.uri(ann) if ann and ann in tree.files else None,
                background=plates.get((e["subject"], e.get("view"))),
            )
        )
    for rel in [*tree.videos, *tree.folders]:
        if rel not in listed:
            errors.append(InputError(tree.uri(rel), "discover", "LayoutMismatch", "not listed in dataset.json"))
    return records, errors


# -- public ---------------------------------------------------------------------------------------------------


def _detect(tree: _Tree, meta: dict | None) -> str:
    if meta is not None:
        return "synthetic"
    n = tree.num_inputs
    for layout in ("casia-a", "casia-b-video", "casia-b-frames"):
        hits = _accepted(tree, layout)
        if hits and 2 * hits >= n:
            if layout != "casia-b-frames":
                return layout
            return next(iter(_frame_tree_layouts(tree).values()), layout)
    # Pickle folders at any depth: misplaced ones then become mismatches rather than being ignored by generic.
    if tree.pickles and 2 * len(tree.pickles) >= n:
        return "opengait-pkl"
    return "generic"


def detect_layout(fs: pafs.FileSystem, root: str) -> str:
    """The layout auto-detection picks for `root` (a directory, or a single file → "generic")."""
    if fs.get_file_info(root).type == pafs.FileType.File:
        return "generic"
    tree = _Tree.scan(fs, root)
    return _detect(tree, _synth_meta(tree))


def _stream(src: str, layout: str | None) -> list[SequenceRecord]:
    if layout not in (None, "stream"):
        raise ValueError(f"{src} is a stream; layout {layout!r} does not apply (use 'stream' or none)")
    s = src.strip()
    return [SequenceRecord(sequence_id=sequence_id(s), source=s, kind="stream", layout="stream")]


@dataclass(frozen=True)
class Survey:
    """What one listing of SRC found: its sequences, the inputs that did not fit, and a hash of the listing."""

    records: list[SequenceRecord]
    errors: list[InputError]
    # sha256 (16 hex) of the path, size and modification time of every file that can change what preprocessing
    # makes (STAMPED_EXTS): what a re-run compares to know that the inputs are unchanged (files added, removed or
    # rewritten change it). None for a stream, whose frames are new on every read.
    inputs_hash: str | None


def discover(src: str | os.PathLike[str], layout: str | None = None) -> tuple[list[SequenceRecord], list[InputError]]:
    """Every sequence under SRC (a directory, a single video, or a stream) and every input that did not fit.

    `layout` forces a layout (one of LAYOUTS); by default it is detected. Records come sorted by
    (subject, condition, sequence, view, source); errors by source.
    """
    found = survey(src, layout)
    return found.records, found.errors


def survey(src: str | os.PathLike[str], layout: str | None = None) -> Survey:
    """`discover`, with the hash of the listing it parsed."""
    src = os.fspath(src)
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    if storage.is_stream(src):
        return Survey(_stream(src, layout), [], None)
    if layout == "stream":
        raise ValueError(f"{src} is not a stream (a camera index or an rtsp/http URL)")
    fs, root = storage.resolve(src)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"SRC {src} does not exist")

    meta = None
    if info.type == pafs.FileType.File:
        if posixpath.splitext(root)[1].lower() not in VIDEO_EXTS:
            raise ValueError(f"{src} is a file but not a video ({', '.join(sorted(VIDEO_EXTS))})")
        tree = _Tree(fs, posixpath.dirname(root) or "/")
        tree.add(posixpath.basename(root), info)
        tree.finish()
        chosen = layout or "generic"
    else:
        tree = _Tree.scan(fs, root)
        meta = _synth_meta(tree)
        if tree.num_inputs == 0 and meta is None:
            raise ValueError(f"no videos or frame folders found under {src} (nor folders of .pkl files)")
        chosen = layout or _detect(tree, meta)

    if chosen == "synthetic":
        if meta is None:
            raise ValueError(f"layout 'synthetic' matches nothing under {src}: no gait-synth dataset.json there")
        records, errors = _from_synthetic(tree, meta)
    elif chosen == "opengait-pkl":
        records, errors = _from_opengait(tree)
    else:
        records, errors = _from_parsers(tree, chosen, forced=layout is not None)
    if layout is not None and not records:
        raise ValueError(f"layout {layout!r} matches nothing under {src}")
    records.sort(key=SequenceRecord.sort_key)
    errors.sort(key=lambda e: e.source)
    return Survey(records, errors, tree.stamp.hexdigest()[:16])
