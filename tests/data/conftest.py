"""Small real datasets for the data tests, made on the spot."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.synth import SynthConfig, generate_dataset

TINY = SynthConfig(
    subjects=4,
    sequences={"nm": 3, "bg": 1, "cl": 1},
    views=(54, 90),
    frames=20,
    width=96,
    height=96,
    background_frames=6,
    seed=3,
)


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """A synthetic dataset of 40 sequences with ground truth (made in-process, without Ray)."""
    out = tmp_path_factory.mktemp("tiny") / "synth"
    generate_dataset(TINY, out, parallel=False, progress=False)
    return out


def write_video(path: Path, frames: list[np.ndarray] | np.ndarray, fps: float = 25.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()
    return path


def copy_walk(tiny: Path, stem: str, dest: Path) -> Path:
    """A synthetic walk as a plain video file (no ground truth travels with it)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tiny / "videos" / f"{stem}.mp4", dest)
    return dest


def read_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while (f := cap.read()[1]) is not None:
        out.append(f)
    return out
