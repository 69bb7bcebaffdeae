"""Scenes of several walkers at once, with the truth a multi-person tracker is scored against.

Real footage has people crossing in front of each other, coming into view and leaving it, a camera that pans
or shakes and light that changes; a tracker tuned on one walker in front of a tripod learns none of that. Each
walker here is the single-walker generator's own (identity from `subject_identity`, walk from `kinematics`,
drawing from `render.WalkerDrawing`), on a straight path at its own depth across the view. Walkers are drawn
far to near, so the nearer one hides the farther one, and every walker's whole silhouette is also drawn into
a mask of its own, large enough to hold what leaves the frame: the visibility of a walker is the share of
its silhouette that is inside the frame and not hidden by a nearer walker, by construction.

The camera is still (a tripod), pans (the view slides across a room wider than it and back) or shakes (hand-held
jitter); the view is resampled from the room's image by cubic interpolation through a slightly soft lens, so a
sub-pixel move does not change the image's sharpness. The light is steady or changes (a drift and a step).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from pipeline.common.skeleton import J
from pipeline.synth.appearance import Outfit
from pipeline.synth.covariates import make_covariate
from pipeline.synth.generate import subject_identity
from pipeline.synth.kinematics import walk
from pipeline.synth.render import Painter, WalkerDrawing
from pipeline.synth.scene import Scene, background_frame, build_scene, expose

CAMERAS = ("still", "pan", "shake")
LIGHTING = ("steady", "changing")
CAMERA_CODES = {"still": 0, "pan": 1, "shake": 2}
WALKER_CONDITIONS = ("nm", "nm", "bg", "cl")  # mostly plain walking; some bags and coats
PAN_EASE = 3  # frames: the Gaussian that rounds a pan's turns
LENS_BLUR = 0.5  # px: the optics' blur of the background; the view is then shifted by cubic interpolation
SCENE_KEY = 10_000  # build_scene's view key of crowd scene k is SCENE_KEY + k: never a single-walker view


@dataclass
class RenderedCrowd:
    """A multi-walker video and its per-frame, per-walker truth (boxes x0, y0, x1, y1 with x1, y1 exclusive)."""

    frames: np.ndarray  # uint8 [T, H, W, 3] BGR
    boxes: np.ndarray  # float32 [T, N, 4]: the walker's silhouette inside the frame, occlusion ignored; NaN if none
    visible_boxes: np.ndarray  # float32 [T, N, 4]: its pixels that are seen (inside, not hidden); NaN if none
    visibility: np.ndarray  # float32 [T, N]: seen pixels / all its silhouette's pixels (0 when out of view)
    labels: np.ndarray  # uint8 [T, H, W]: 0 background, k + 1 where walker k is seen
    subjects: np.ndarray  # int32 [N]: each walker's identity (subject number)
    camera_shift: np.ndarray  # float32 [T, 2]: top-left of the view on the scene's image plane
    gain: np.ndarray  # float32 [T]: the lighting
    walkers: list[dict[str, Any]] = field(default_factory=list)  # per walker: who, how, where, when


def camera_path(mode: str, rng: np.random.Generator, n: int, width: int, margin: int, span: int) -> np.ndarray:
    """[T, 2] position of the view's top-left on the scene: fixed, sliding across `span` px and back, or shaking."""
    path = np.zeros((n, 2))
    scale = width / 320.0
    if mode == "still":
        path[:, 0] = span / 2
    elif mode == "pan":
        # A steady px-per-frame slide back and forth across the span, eased at the turns (a Gaussian of PAN_EASE
        # frames over the triangle wave): an operator slows down before turning the camera back.
        speed = rng.uniform(1.5, 3.0) * scale
        start = rng.uniform(0, 2 * span)
        k = 3 * PAN_EASE
        x = (start + speed * np.arange(-k, n + k)) % (2 * span)
        tri = np.where(x > span, 2 * span - x, x)
        kernel = np.exp(-0.5 * (np.arange(-k, k + 1) / PAN_EASE) ** 2)
        path[:, 0] = np.convolve(tri, kernel / kernel.sum(), mode="valid")
        if rng.random() < 0.5:
            path[:, 0] = span - path[:, 0]
    elif mode == "shake":
        sd = rng.uniform(2.5, 5.0) * scale  # stationary spread of a hand-held camera
        steps = rng.normal(0.0, sd * np.sqrt(1 - 0.8**2), (n, 2))
        for t in range(1, n):
            path[t] = 0.8 * path[t - 1] + steps[t]
        path = np.clip(path, -(margin - 1), margin - 1)
        path[:, 0] += span / 2
    else:
        raise ValueError(f"unknown camera {mode!r}; known: {', '.join(CAMERAS)}")
    return path


def lighting(mode: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """[T] exposure gain: steady, or a slow drift with a sudden step (a light switched on or off)."""
    base = rng.uniform(0.85, 1.1)
    if mode == "steady":
        return np.full(n, base)
    if mode != "changing":
        raise ValueError(f"unknown lighting {mode!r}; known: {', '.join(LIGHTING)}")
    t = np.arange(n)
    drift = 1.0 + rng.uniform(0.08, 0.18) * np.sin(2 * np.pi * t / rng.uniform(0.7 * n, 1.5 * n) + rng.uniform(0, 6.3))
    step_at = int(rng.uniform(0.3, 0.7) * n)
    step = rng.uniform(0.7, 0.8) if rng.random() < 0.5 else rng.uniform(1.2, 1.3)
    return np.clip(base * drift * np.where(t >= step_at, step, 1.0), 0.45, 1.6)


def build_crowd_scene(seed: int, number: int, width: int, height: int, span: int) -> Scene:
    """The room of scene `number`, `span` px wider than the view when the camera pans across it, seen through a
    lens that is not pixel-sharp (a Gaussian blur of σ = LENS_BLUR px): a camera that moves by a fraction of a
    pixel samples the same soft image, where a pixel-sharp one resampled bilinearly would flicker in sharpness
    from frame to frame at every edge, which no real camera does."""
    scene = build_scene(seed, SCENE_KEY + number, width + span, height)
    return replace(scene, background=cv2.GaussianBlur(scene.background, (0, 0), LENS_BLUR))


def _lanes(rng: np.random.Generator, scene: Scene, n: int) -> np.ndarray:
    """Depths of n walking paths, spread between the scene's nominal distance and well before its wall."""
    near, far = 0.95 * scene.distance, min(1.7 * scene.distance, scene.wall - 0.8)
    lanes = np.linspace(near, far, n) if n > 1 else np.array([near + 0.3 * (far - near)])
    gap = (far - near) / max(n - 1, 1)
    return rng.permutation(lanes + rng.uniform(-0.2, 0.2, n) * gap)


def plan_walkers(
    rng: np.random.Generator,
    scene: Scene,
    n_walkers: int,
    n_frames: int,
    fps: float,
    *,
    seed: int,
    subjects: int,
    jitter: float,
) -> tuple[list[WalkerDrawing], list[dict[str, Any]]]:
    """Who walks, how, and where: straight paths across the view at their own depths, each walker passing the
    middle of the scene at its own time (the first two at nearly the same time from opposite sides, so that
    they cross). A path runs through the whole clip, so walkers come into view and leave it on their own."""
    if n_walkers > subjects:
        raise ValueError(f"{n_walkers} walkers need at least as many subjects (have {subjects})")
    who = rng.choice(subjects, n_walkers, replace=False) + 1
    lanes = _lanes(rng, scene, n_walkers)
    first = 1 if rng.random() < 0.5 else -1
    drawings, info = [], []
    for i, subject in enumerate(who):
        base, person = subject_identity(seed, int(subject))
        params = base.jitter(rng, jitter)
        condition = WALKER_CONDITIONS[int(rng.integers(len(WALKER_CONDITIONS)))]
        params, cov = make_covariate(condition, params, rng)
        outfit = Outfit.sample(rng)
        direction = first if i == 0 else -first if i == 1 else (1 if rng.random() < 0.5 else -1)
        heading = (90.0 if direction > 0 else 270.0) + rng.uniform(-8, 8)
        if i == 0:
            t_mid = rng.uniform(0.25, 0.75) * n_frames
        elif i == 1:  # meets walker 0 in the middle
            t_mid = info[0]["middle_frame"] + rng.uniform(-6, 6)
        else:
            t_mid = rng.uniform(0.1, 0.9) * n_frames
        x_mid = rng.uniform(-0.4, 0.4)
        w = walk(
            params,
            n_frames,
            fps,
            phase0=float(rng.random()),
            heading_deg=heading,
            centre=(0.0, 0.0),
            rng=rng,
            arm_scale=cov.arm_scale,
            step_height=cov.step_height,
            sole=cov.sole,
        )
        # Move the walk so that it passes (x_mid, lane) at frame t_mid.
        pelvis = w.joints[:, J["pelvis"], :2]
        k = int(np.clip(round(t_mid), 0, n_frames - 1))
        at_mid = pelvis[k] + w.forward * w.speed * (t_mid - k) / fps
        d = np.array([x_mid - at_mid[0], lanes[i] - at_mid[1], 0.0])
        w = replace(w, joints=w.joints + d, toes=w.toes + d, heels=w.heels + d)
        drawings.append(WalkerDrawing(scene, w, person, outfit, cov, params.build))
        info.append(
            {
                "subject": int(subject),
                "condition": condition,
                "direction": "right" if direction > 0 else "left",
                "heading_deg": round(float(heading), 2),
                "depth_m": round(float(lanes[i]), 3),
                "speed_m_s": round(float(w.speed), 3),
                "middle_frame": round(float(t_mid), 2),
            }
        )
    return drawings, info


def _extent(d: WalkerDrawing, t: int, off: np.ndarray) -> tuple[int, int, int, int]:
    """A generous integer box around walker d at frame t (joints, feet, head, bag, with a margin)."""
    pts = [d.uv_j[t], d.uv_toe[t], d.uv_heel[t], d.uv_x["hair"][0][t][None]]
    if d.uv_bag is not None:
        pts.append(d.uv_bag[0][t])
    p = np.concatenate(pts) + off
    lo, hi = p.min(0), p.max(0)
    pad = 0.3 * (hi[1] - lo[1]) + 4
    return int(np.floor(lo[0] - pad)), int(np.floor(lo[1] - pad)), int(np.ceil(hi[0] + pad)), int(np.ceil(hi[1] + pad))


def _bbox(mask: np.ndarray, x0: int, y0: int) -> np.ndarray:
    bx, by, bw, bh = cv2.boundingRect(mask.astype(np.uint8))
    if bw == 0:
        return np.full(4, np.nan, np.float32)
    return np.array([x0 + bx, y0 + by, x0 + bx + bw, y0 + by + bh], np.float32)


def render_crowd(
    scene: Scene,
    drawings: list[WalkerDrawing],
    shift: np.ndarray,
    gain: np.ndarray,
    tint: np.ndarray,
    noise_sd: float,
    size: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frames, boxes, visible boxes, visibility and labels of walkers drawn far to near over the moving view."""
    width, height = size
    n, k = shift.shape[0], len(drawings)
    frames = np.empty((n, height, width, 3), np.uint8)
    labels = np.zeros((n, height, width), np.uint8)
    boxes = np.full((n, k, 4), np.nan, np.float32)
    visible_boxes = np.full((n, k, 4), np.nan, np.float32)
    visibility = np.zeros((n, k), np.float32)
    for t in range(n):
        off = -shift[t]
        canvas = background_frame(scene, shift[t], size, cv2.INTER_CUBIC)
        drawn: dict[int, tuple[np.ndarray, tuple[int, int, int, int]]] = {}
        for i in sorted(range(k), key=lambda i: -drawings[i].depth(t)):  # far to near
            x0, y0, x1, y1 = _extent(drawings[i], t, off)
            if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
                continue  # wholly out of view
            own = np.zeros((y1 - y0, x1 - x0), np.uint8)
            drawings[i].draw(Painter(canvas, own, np.array([-x0, -y0], float)), t, off)
            drawn[i] = (own, (x0, y0, x1, y1))
        seen = np.zeros((height, width), bool)
        for i in sorted(drawn, key=lambda i: drawings[i].depth(t)):  # near to far: what is nearer hides
            own, (x0, y0, x1, y1) = drawn[i]
            total = int(np.count_nonzero(own))
            cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
            inside = own[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] > 0
            if total == 0 or not inside.any():
                continue
            vis = inside & ~seen[cy0:cy1, cx0:cx1]
            seen[cy0:cy1, cx0:cx1] |= inside
            labels[t, cy0:cy1, cx0:cx1][vis] = i + 1
            boxes[t, i] = _bbox(inside, cx0, cy0)
            visible_boxes[t, i] = _bbox(vis, cx0, cy0)
            visibility[t, i] = np.count_nonzero(vis) / total
        noise = rng.standard_normal((height, width, 3), dtype=np.float32) * np.float32(noise_sd)
        frames[t] = expose(canvas, float(gain[t]), tint, noise)
    return frames, boxes, visible_boxes, visibility, labels


def make_crowd_scene(
    *,
    seed: int,
    number: int,
    camera: str,
    lighting_mode: str,
    n_walkers: int,
    n_frames: int,
    width: int,
    height: int,
    fps: float,
    subjects: int,
    jitter: float,
) -> RenderedCrowd:
    """Scene `number` of a dataset: deterministic from its arguments. The room and the walkers depend on (seed,
    number) only, so still-01, pan-01 and shake-01 show the same people on the same paths, filmed differently."""
    span = width // 2 if camera == "pan" else 0
    scene = build_crowd_scene(seed, number, width, height, span)
    walk_rng = np.random.default_rng(np.random.SeedSequence([seed, 7, number]))
    drawings, walkers = plan_walkers(
        walk_rng, scene, n_walkers, n_frames, fps, seed=seed, subjects=subjects, jitter=jitter
    )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7, number, 100 + CAMERA_CODES[camera]]))
    shift = camera_path(camera, rng, n_frames, width, scene.margin, span)
    gain = lighting(lighting_mode, rng, n_frames)
    tint = rng.uniform(0.9, 1.1, 3)
    noise_sd = float(rng.uniform(1.5, 4.0))
    frames, boxes, visible_boxes, visibility, labels = render_crowd(
        scene, drawings, shift, gain, tint, noise_sd, (width, height), rng
    )
    for i, w in enumerate(walkers):
        seen = np.flatnonzero(~np.isnan(boxes[:, i, 0]))
        w["first_frame"], w["last_frame"] = (int(seen[0]), int(seen[-1])) if seen.size else (None, None)
        w["frames_in_view"] = int(seen.size)
    return RenderedCrowd(
        frames=frames,
        boxes=boxes,
        visible_boxes=visible_boxes,
        visibility=visibility,
        labels=labels,
        subjects=np.array([w["subject"] for w in walkers], np.int32),
        camera_shift=shift.astype(np.float32),
        gain=gain.astype(np.float32),
        walkers=walkers,
    )
