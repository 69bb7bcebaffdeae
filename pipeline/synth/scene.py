"""The scene a view is filmed in: a fixed pinhole camera over a tiled floor and a wall with windows and posters.

Like CASIA-B's lab, every subject of one view walks through the same scene, so the background says nothing
about who walks. Each sequence then varies lighting (gain, tint, slow flicker), sensor noise and camera jitter.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

NOMINAL_HEIGHT = 1.72


@dataclass(frozen=True)
class Camera:
    """Pinhole camera at height `h` looking along +Y (world: X right, Y depth, Z up); pixels in frame coords."""

    f: float
    cx: float
    cy: float
    h: float

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points [..., 3] → pixel coordinates [..., 2] and depth [...] (metres along the optical axis)."""
        depth = np.maximum(pts[..., 1], 1e-3)
        u = self.cx + self.f * pts[..., 0] / depth
        v = self.cy - self.f * (pts[..., 2] - self.h) / depth
        return np.stack([u, v], -1), depth


@dataclass(frozen=True)
class Scene:
    """Camera and a background image with a margin on every side, so that camera jitter can shift it."""

    camera: Camera
    background: np.ndarray  # BGR uint8 [H + 2m, W + 2m, 3]
    margin: int
    distance: float  # nominal distance of the walking path from the camera
    wall: float

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.background.shape[:2]
        return w - 2 * self.margin, h - 2 * self.margin


def _low_freq_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    small = rng.normal(0.0, 1.0, (max(2, h // cells), max(2, w // cells))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def build_scene(seed: int, view: int, width: int, height: int) -> Scene:
    """The scene for one view of one dataset: deterministic from (seed, view)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5CE, view]))
    margin = int(np.ceil(0.05 * max(width, height))) + 2
    w_ext, h_ext = width + 2 * margin, height + 2 * margin
    distance = float(rng.uniform(4.8, 6.2))
    frac = float(rng.uniform(0.5, 0.62))  # a person of nominal height fills this share of the frame height
    cam_h = float(rng.uniform(0.95, 1.35))
    f = frac * height * distance / NOMINAL_HEIGHT
    camera = Camera(f=f, cx=width / 2.0, cy=height / 2.0, h=cam_h)
    wall = distance + float(rng.uniform(3.0, 6.0))

    ss = 2  # supersample, then area-downscale: no aliasing in the far tiles
    H, W = h_ext * ss, w_ext * ss
    v, u = np.mgrid[0:H, 0:W].astype(np.float32)
    u = (u + 0.5) / ss - margin - camera.cx
    v = (v + 0.5) / ss - margin - camera.cy
    floor_depth = np.where(v > 0, f * cam_h / np.maximum(v, 1e-6), wall)
    is_floor = floor_depth < wall
    floor_depth = np.minimum(floor_depth, wall)
    img = np.zeros((H, W, 3), np.float32)

    # Floor: tiles in perspective, two tones, grout lines, per-tile variation.
    tile = float(rng.uniform(0.35, 0.8))
    fx = u * floor_depth / f
    fy = floor_depth
    ix, iy = np.floor(fx / tile), np.floor(fy / tile)
    base = rng.uniform(60, 200, 3)
    alt = np.clip(base + rng.normal(0, 35, 3), 20, 235)
    checker = ((ix + iy) % 2 == 0)[..., None]
    floor = np.where(checker, base, alt)
    tile_var = np.sin(ix * 12.9898 + iy * 78.233 + seed) * 43758.5453 % 1.0
    floor = floor * (0.9 + 0.2 * np.nan_to_num(tile_var)[..., None])
    grout = (np.minimum(fx / tile - ix, fy / tile - iy) < 0.04)[..., None]
    floor = np.where(grout, floor * 0.6, floor)
    floor *= 1.0 - 0.35 * np.clip((fy - distance) / (wall - distance), 0, 1)[..., None]

    # Wall: a tinted plaster with low-frequency texture, a baseboard and a few windows, doors or posters.
    wx = u * wall / f
    wz = cam_h - v * wall / f
    wall_col = rng.uniform(70, 220, 3)
    tex = _low_freq_noise(rng, H, W, 12 * ss)[..., None] * 12 + _low_freq_noise(rng, H, W, 3 * ss)[..., None] * 6
    wall_img = wall_col + tex
    wall_img = np.where((wz < 0.12)[..., None], wall_col * 0.45, wall_img)
    half_w = (W / 2 / ss) * wall / f
    for _ in range(int(rng.integers(3, 8))):
        cx_r = rng.uniform(-half_w, half_w)
        rw, rh = rng.uniform(0.3, 1.4), rng.uniform(0.4, 1.8)
        z0 = rng.uniform(0.2, 1.6)
        inside = (np.abs(wx - cx_r) < rw / 2) & (wz > z0) & (wz < z0 + rh)
        col = rng.uniform(20, 240, 3)
        stripes = 1.0 + 0.15 * np.sign(np.sin(wx * rng.uniform(5, 25)))[..., None]
        wall_img = np.where(inside[..., None], col * stripes, wall_img)
        frame = inside & ~((np.abs(wx - cx_r) < rw / 2 - 0.05) & (wz > z0 + 0.05) & (wz < z0 + rh - 0.05))
        wall_img = np.where(frame[..., None], col * 0.35, wall_img)
    img = np.where(is_floor[..., None], floor, wall_img)
    img += _low_freq_noise(rng, H, W, 4 * ss)[..., None] * 5.0
    img = cv2.resize(np.clip(img, 0, 255).astype(np.uint8), (w_ext, h_ext), interpolation=cv2.INTER_AREA)
    return Scene(camera=camera, background=img, margin=margin, distance=distance, wall=wall)


@dataclass(frozen=True)
class Filming:
    """What one sequence's recording adds to its scene: jitter path, lighting and noise."""

    shift: np.ndarray  # [T, 2] camera jitter in pixels
    gain: np.ndarray  # [T] brightness
    tint: np.ndarray  # [3] BGR channel gains
    noise_sd: float

    @classmethod
    def sample(cls, rng: np.random.Generator, n_frames: int) -> Filming:
        amp = rng.uniform(0.2, 1.2)
        steps = rng.normal(0.0, amp * 0.35, (n_frames, 2))
        shift = np.zeros((n_frames, 2))
        for t in range(1, n_frames):
            shift[t] = 0.85 * shift[t - 1] + steps[t]
        base = rng.uniform(0.75, 1.15)
        flicker = rng.uniform(0.0, 0.12)
        period = rng.uniform(20, 120)
        gain = base * (1.0 + flicker * np.sin(2 * np.pi * np.arange(n_frames) / period + rng.uniform(0, 6.3)))
        tint = rng.uniform(0.88, 1.12, 3)
        return cls(shift=shift, gain=gain, tint=tint, noise_sd=float(rng.uniform(1.5, 6.0)))


def background_frame(
    scene: Scene, shift: np.ndarray, size: tuple[int, int] | None = None, flags: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """The background as the jittered camera sees it (sub-pixel shift, bilinear unless `flags` says otherwise).
    `size` (width, height) cuts a smaller window out of a wide scene, at `shift` from its top-left: a panning
    camera's view."""
    w, h = size or scene.size
    m = np.float32([[1, 0, -(scene.margin + shift[0])], [0, 1, -(scene.margin + shift[1])]])
    return cv2.warpAffine(scene.background, m, (w, h), flags=flags, borderMode=cv2.BORDER_REFLECT)


def expose(canvas: np.ndarray, gain: float, tint: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Lighting and sensor noise over the composed frame."""
    out = canvas.astype(np.float32) * (gain * tint).astype(np.float32) + noise
    return np.clip(out, 0, 255).astype(np.uint8)
