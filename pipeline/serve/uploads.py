"""Uploaded video or frames → clips, through the very preprocessing of `gait preprocess` and `gait index`.

Nothing a client sends is used as a path: the bytes go into a private temporary directory (mode 0700, a name
chosen here), OpenCV decodes them from there, and the directory is removed whatever happens.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.errors import Outcome
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


class ClipMaker:
    """The model's preprocessing settings, applied to one upload at a time."""

    def __init__(self, preprocess: dict[str, Any], column: str) -> None:
        cfg = PreprocessConfig.from_dict(preprocess | {"silhouettes": column == "silhouettes"})
        if cfg.max_frames == 0 or cfg.max_frames > MAX_FRAMES:
            cfg = cfg.with_changes(max_frames=MAX_FRAMES)
        self.column = column
        self.processor = SequenceProcessor(cfg, cfg.hash(), with_joints=False)

    def _clips(self, rec: dict[str, Any]) -> np.ndarray:
        outcome = Outcome("upload", "upload")
        try:
            batches = list(self.processor.clips(rec, outcome))
        except Exception as exc:  # IngestError and OpenCV's: the input, not the server
            raise BadInput(f"could not use the input: {exc}") from exc
        if not batches:
            raise BadInput("no clip could be cut: the input is too short or no walking person was found")
        return np.concatenate([b[self.column] for b in batches])

    def from_video(self, data: bytes, suffix: str = ".mp4") -> np.ndarray:
        """Video bytes → uint8 clips [N, T, H, W(, 3)]."""
        with _private_dir() as d:
            path = d / f"upload{suffix if suffix in ('.mp4', '.avi', '.mov', '.mkv', '.webm') else '.mp4'}"
            path.write_bytes(data)
            return self._clips(_record("video", str(path)))

    def from_images(self, images: list[bytes]) -> np.ndarray:
        """Encoded frames (PNG/JPEG bytes, in order) → uint8 clips."""
        with _private_dir() as d:
            names = []
            for i, data in enumerate(images):
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if img is None:
                    raise BadInput(f"frame {i} is not a PNG or JPEG image")
                name = d / f"{i:06d}.png"
                cv2.imwrite(str(name), img)
                names.append(str(name))
            return self._clips(_record("frames", str(d), tuple(names)))


@contextmanager
def _private_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gait-upload-"))  # mkdtemp: mode 0700, a name chosen here
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
