"""Uploaded video or frames → each person's clips, through the very preprocessing of `gait preprocess` and
`gait index` (every person found and tracked).

Nothing a client sends is used as a path: the bytes go into a private temporary directory (mode 0700, a name
chosen here), OpenCV decodes them from there, and the directory is removed whatever happens.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.decode import video_header
from pipeline.ingest.errors import Outcome
from pipeline.ingest.schema import row_frames
from pipeline.ingest.sequence import SequenceProcessor

MAX_FRAMES = 600  # an identification needs seconds of walking, not minutes


class BadInput(ValueError):
    """The client's input cannot be used (undecodable, no person, too short): HTTP 422."""


def _record(kind: str, source: str, frames: tuple[str, ...] | None = None) -> dict[str, Any]:
    return {
        "sequence_id": "upload",
        "source": source,
        "kind": kind,
        "layout": "generic",
        "frames": frames,
        "subject": None,
        "condition": None,
        "sequence": None,
        "view": None,
        "modality": "rgb",
        "annotation": None,
        "background": None,
    }


@dataclass
class Walker:
    """One person of an upload: their clips, and where they were (a box per frame they were tracked in)."""

    track_id: int | None
    clips: np.ndarray  # uint8 [N, T, H, W(, 3)]
    boxes: dict[int, list[float]] = field(default_factory=dict)  # frame index → x0, y0, x1, y1 (source pixels)
    fps: float = 25.0  # the upload's frame rate (frames: 25): the page maps a video time to a frame with it
    unread: int = 0  # frames of the upload after the first MAX_FRAMES, not looked at (0: it was read whole)

    def where(self) -> dict[str, Any]:
        """The JSON the API answers with beside the person's identity."""
        frames = sorted(self.boxes)
        return {
            "track_id": self.track_id,
            "first_frame": frames[0] if frames else None,
            "last_frame": frames[-1] if frames else None,
            "boxes": [[f, *(round(v, 1) for v in self.boxes[f])] for f in frames],
            "clips": len(self.clips),
            "fps": self.fps,
            "frames_unread": self.unread,
        }


class ClipMaker:
    """The model's preprocessing settings, applied to one upload at a time: every person in it is found and
    tracked (pipeline/track), and each becomes a Walker."""

    def __init__(self, preprocess: dict[str, Any], column: str) -> None:
        cfg = PreprocessConfig.from_dict(preprocess | {"silhouettes": column == "silhouettes"})
        if cfg.max_frames == 0 or cfg.max_frames > MAX_FRAMES:
            cfg = cfg.with_changes(max_frames=MAX_FRAMES)
        self.column = column
        self.processor = SequenceProcessor(cfg, cfg.hash(), with_joints=False)

    def _walkers(self, rec: dict[str, Any], total: int = 0, fps: float = 25.0) -> list[Walker]:
        """Every person of the upload `rec`; `total`: its frames, when known (those past the limit are unread);
        `fps`: its frame rate (frames: 25)."""
        outcome = Outcome("upload", "upload")
        try:
            batches = list(self.processor.clips(rec, outcome))
        except Exception as exc:  # IngestError and OpenCV's: the input, not the server
            raise BadInput(f"could not use the input: {exc}") from exc
        if not batches:
            raise BadInput("no clip could be cut: the input is too short or no walking person was found")
        people: dict[str, Walker] = {}
        for b in batches:
            for i, sid in enumerate(b["sequence_id"]):
                track = b["track_id"][i]
                w = people.setdefault(str(sid), Walker(None if track is None else int(track), np.zeros(0)))
                frames = row_frames(b, i)
                for t, f in enumerate(frames):
                    w.boxes.setdefault(int(f), [float(v) for v in b["boxes"][i, t]])
        for sid, w in people.items():
            w.clips = np.concatenate([b[self.column][b["sequence_id"] == sid] for b in batches])
        unread = max(0, total - self.processor.cfg.max_frames)
        for w in people.values():
            w.fps, w.unread = fps, unread
        # Longest-seen first: the person an answer about "the walk" is about when one is needed.
        return sorted(people.values(), key=lambda w: (-len(w.boxes), w.track_id or 0))

    def walkers_from_video(self, data: bytes, suffix: str = ".mp4") -> list[Walker]:
        """Video bytes → every person in it."""
        with _private_dir() as d:
            path = d / f"upload{suffix if suffix in ('.mp4', '.avi', '.mov', '.mkv', '.webm') else '.mp4'}"
            path.write_bytes(data)
            fps, total = video_header(str(path))  # the container's count, for the frames left unread
            return self._walkers(_record("video", str(path)), total, fps)

    def walkers_from_images(self, images: list[bytes]) -> list[Walker]:
        """Encoded frames (PNG/JPEG bytes, in order) → every person in them."""
        with _private_dir() as d:
            names = []
            for i, data in enumerate(images[: self.processor.cfg.max_frames]):  # the rest would not be read
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if img is None:
                    raise BadInput(f"frame {i} is not a PNG or JPEG image")
                name = d / f"{i:06d}.png"
                cv2.imwrite(str(name), img)
                names.append(str(name))
            return self._walkers(_record("frames", str(d), tuple(names)), len(images))

    def from_video(self, data: bytes, suffix: str = ".mp4") -> np.ndarray:
        """Video bytes of one walking person → their uint8 clips [N, T, H, W(, 3)]; several people: BadInput."""
        return _one(self.walkers_from_video(data, suffix))

    def from_images(self, images: list[bytes]) -> np.ndarray:
        """Frames of one walking person → their clips; several people: BadInput."""
        return _one(self.walkers_from_images(images))


def _one(walkers: list[Walker]) -> np.ndarray:
    if len(walkers) > 1:
        spans = ", ".join(f"track {w.track_id} (frames {min(w.boxes)}–{max(w.boxes)})" for w in walkers)
        raise BadInput(f"{len(walkers)} people walk in this input ({spans}); it must show one person")
    return walkers[0].clips


@contextmanager
def _private_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gait-upload-"))  # mkdtemp: mode 0700, a name chosen here
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
