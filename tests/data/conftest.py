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


def textured_background(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A static scene with texture (floor tiles, blobs): background models and motion estimates need some."""
    rng = np.random.default_rng(seed)
    bg = np.full((h, w, 3), 150, np.uint8)
    for _ in range(w * h // 400):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        c = tuple(int(v) for v in rng.integers(60, 230, 3))
        cv2.rectangle(bg, (x, y), (x + int(rng.integers(3, 14)), y + int(rng.integers(3, 14))), c, -1)
    return cv2.GaussianBlur(bg, (3, 3), 0)


def draw_walker(frame: np.ndarray, x: float, feet: float, height: float, phase: float, colour: tuple) -> np.ndarray:
    """A person-like figure (head, torso, swinging legs and arms) standing on `feet`, centred on `x`; returns its
    box x0, y0, x1, y1."""
    h = height
    head_r = max(2, int(h * 0.07))
    top = feet - h
    cx = int(round(x))
    cv2.circle(frame, (cx, int(top + head_r)), head_r, colour, -1)
    hip = int(top + 0.55 * h)
    cv2.ellipse(frame, (cx, int(top + 0.37 * h)), (max(2, int(h * 0.1)), int(h * 0.2)), 0, 0, 360, colour, -1)
    swing = np.sin(phase) * h * 0.18
    t = max(2, int(h * 0.06))
    for s in (swing, -swing):
        cv2.line(frame, (cx, hip), (int(cx + s), int(feet)), colour, t)
        cv2.line(frame, (cx, int(top + 0.22 * h)), (int(cx - s * 0.7), int(top + 0.52 * h)), colour, max(1, t - 1))
    return np.array([cx - max(h * 0.18, abs(swing)), top, cx + max(h * 0.18, abs(swing)), feet], np.float32)


def walkers_video(
    path: Path,
    paths: list[tuple[float, float, float, float]],
    frames: int = 60,
    size: tuple[int, int] = (240, 180),
    seed: int = 0,
    spans: list[tuple[int, int]] | None = None,
) -> dict[int, list[np.ndarray | None]]:
    """A still-camera video of walkers; each path is (x at frame 0, pixels per frame, feet row, height), drawn
    in the frames of its span (default: all). Returns each walker's true box per frame (None when not seen)."""
    w, h = size
    bg = textured_background(w, h, seed)
    colours = [(40, 40, 200), (200, 60, 40), (40, 160, 40), (30, 30, 30), (200, 200, 40), (160, 40, 160)]
    truth: dict[int, list[np.ndarray | None]] = {i: [] for i in range(len(paths))}
    out = []
    for f in range(frames):
        img = bg.copy()
        order = sorted(range(len(paths)), key=lambda i: paths[i][2])  # far (higher on screen) first
        for i in order:
            x0, v, feet, height = paths[i]
            if spans and not spans[i][0] <= f < spans[i][1]:
                truth[i].append(None)
                continue
            x = x0 + v * f
            box = draw_walker(img, x, feet, height, f * 0.5, colours[i % len(colours)])
            inside = box[2] > 0 and box[0] < w
            truth[i].append(np.clip(box, 0, [w, h, w, h]) if inside else None)
        out.append(img)
    write_video(path, out)
    return truth
