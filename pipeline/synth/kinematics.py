"""The walker: joint-angle curves over the gait cycle → 3-D joint positions in the world, frame by frame.

Angles follow the textbook sagittal-plane curves (hip flexion ~ cosine; knee with a loading bump and a large
swing bump; ankle with push-off), the pelvis rotates and sways, the arms swing against the legs. The pelvis
height is solved so that the lowest point of either foot touches the ground, which gives the vertical bob; the
walking speed is the speed at which the stance foot does not slide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.common.skeleton import NUM_JOINTS, J
from pipeline.synth.params import GaitParams

TAU = 2.0 * np.pi
RAD = np.pi / 180.0


@dataclass(frozen=True)
class Segments:
    """Bone lengths in metres, derived from height and proportions."""

    thigh: float
    shank: float
    ankle_height: float
    torso: float
    neck: float
    head: float
    shoulder_width: float
    hip_width: float
    upper_arm: float
    forearm: float
    foot: float

    @classmethod
    def of(cls, p: GaitParams) -> Segments:
        h = p.height
        ankle_h = 0.045 * h
        leg = p.leg_ratio * h - ankle_h
        arm = p.arm_ratio * h
        return cls(
            thigh=p.thigh_frac * leg,
            shank=(1.0 - p.thigh_frac) * leg,
            ankle_height=ankle_h,
            torso=0.81 * h - p.leg_ratio * h,
            neck=0.05 * h,
            head=0.14 * h,
            shoulder_width=p.shoulder_ratio * h,
            hip_width=p.hip_ratio * h,
            upper_arm=arm * 0.56,
            forearm=arm * 0.44,
            foot=p.foot_ratio * h,
        )


def _bump(phase: np.ndarray, centre: float, width: float) -> np.ndarray:
    d = (phase - centre + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (d / width) ** 2)


def leg_angles(
    p: GaitParams, phase: np.ndarray, amp: float = 1.0, step_height: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hip flexion, knee flexion, ankle dorsiflexion (radians) at gait phase 0..1 (0 = heel strike)."""
    w = TAU * phase
    hip = p.hip_offset + amp * p.hip_amp * (np.cos(w) + 0.12 * np.cos(2 * w + 0.6))
    knee = 3.0 + p.knee_stance * _bump(phase, 0.13, 0.07) + step_height * p.knee_swing * _bump(phase, p.knee_phase, 0.1)
    ankle = (
        p.heel_strike * _bump(phase, 0.0, 0.04)
        - 0.35 * p.ankle_amp * _bump(phase, 0.07, 0.04)
        + 0.6 * p.ankle_amp * _bump(phase, 0.42, 0.11)
        - p.ankle_amp * _bump(phase, 0.62, 0.06)
        + 0.25 * p.ankle_amp * _bump(phase, 0.85, 0.08)
    )
    return hip * RAD, knee * RAD, ankle * RAD


def _rot_z(v: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate vectors [..., 3] about the vertical by `angle` (broadcast: one vector, many angles is fine)."""
    c, s = np.cos(angle), np.sin(angle)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    return np.stack([c * x - s * y, s * x + c * y, np.broadcast_to(z, np.broadcast(x, c).shape)], -1)


def _sagittal(angle: np.ndarray, side_y: np.ndarray | float = 0.0, abduction: float = 0.0) -> np.ndarray:
    """Unit vector pointing down, swung forward by `angle` and out sideways by `abduction` (sign in side_y)."""
    ca = np.cos(abduction)
    return np.stack(
        [np.sin(angle) * ca, np.broadcast_to(side_y * np.sin(abduction), angle.shape), -np.cos(angle) * ca], -1
    )


@dataclass(frozen=True)
class Walk:
    """A walk in the world frame (metres; z up): the 16 joints and the extra points the renderer needs."""

    joints: np.ndarray  # [T, 16, 3]
    toes: np.ndarray  # [T, 2, 3] right, left
    heels: np.ndarray  # [T, 2, 3]
    forward: np.ndarray  # [2] heading in the ground plane
    speed: float  # m/s
    segments: Segments


def walk(
    p: GaitParams,
    n_frames: int,
    fps: float,
    *,
    phase0: float,
    heading_deg: float,
    centre: tuple[float, float],
    rng: np.random.Generator,
    arm_scale: tuple[float, float] = (1.0, 1.0),
    step_height: float = 1.0,
    sole: float = 0.0,
) -> Walk:
    """Joint positions of person `p` walking through `centre` (mid-sequence) along `heading_deg`."""
    seg = Segments.of(p)
    t = np.arange(n_frames) / fps
    f_cycle = p.cadence / 120.0  # strides per second (a stride is two steps)
    ph_r = (phase0 + f_cycle * t) % 1.0
    ph_l = (ph_r + 0.5 + p.asym_phase) % 1.0

    def smooth_noise(sd_deg: float) -> np.ndarray:
        raw = rng.normal(0.0, sd_deg, n_frames + 8)
        k = np.exp(-0.5 * (np.arange(-4, 5) / 2.0) ** 2)
        return np.convolve(raw, k / k.sum(), mode="valid")[:n_frames] * RAD * 2.0

    legs = {}
    for side, ph, amp in (("r", ph_r, 1.0), ("l", ph_l, p.asym_amp)):
        hip, knee, ankle = leg_angles(p, ph, amp, step_height)
        legs[side] = (hip + smooth_noise(0.8), knee + smooth_noise(1.2), ankle + smooth_noise(0.8))

    # Pelvis: rotation about the vertical, sway toward the stance leg.
    yaw_p = p.pelvis_rotation * RAD * np.cos(TAU * ph_r)
    yaw_s = -p.shoulder_counter * yaw_p
    pelvis = np.zeros((n_frames, 3))
    pelvis[:, 1] = -p.sway * np.sin(TAU * ph_r)

    pts = np.zeros((n_frames, NUM_JOINTS, 3))
    pts[:, J["pelvis"]] = pelvis
    toes = np.zeros((n_frames, 2, 3))
    heels = np.zeros((n_frames, 2, 3))
    toe_out = p.toe_out * RAD
    for k, (side, sign) in enumerate((("r", -1.0), ("l", 1.0))):
        hip_a, knee_a, ankle_a = legs[side]
        hip = pelvis + _rot_z(np.array([0.0, sign * seg.hip_width / 2, 0.0]), yaw_p)
        knee = hip + seg.thigh * _sagittal(hip_a)
        shank_dir = _sagittal(hip_a - knee_a)
        ankle = knee + seg.shank * shank_dir
        foot_a = hip_a - knee_a + ankle_a
        foot_dir = np.stack([np.cos(foot_a), np.zeros_like(foot_a), np.sin(foot_a)], -1)
        foot_dir = _rot_z(foot_dir, np.full(n_frames, sign * toe_out))
        heel = ankle + seg.ankle_height * shank_dir - 0.22 * seg.foot * foot_dir
        toes[:, k] = heel + seg.foot * foot_dir
        heels[:, k] = heel
        pts[:, J[f"{side}_hip"]] = hip
        pts[:, J[f"{side}_knee"]] = knee
        pts[:, J[f"{side}_ankle"]] = ankle

    lean = (p.torso_lean + 1.5 * np.cos(2 * TAU * ph_r)) * RAD
    up = np.stack([np.sin(lean), np.zeros(n_frames), np.cos(lean)], -1)
    thorax = pelvis + seg.torso * up
    neck = thorax + seg.neck * up
    tilt = lean * 0.5 + p.head_tilt * RAD
    head_up = np.stack([np.sin(tilt), np.zeros(n_frames), np.cos(tilt)], -1)
    pts[:, J["thorax"]] = thorax
    pts[:, J["upper_neck"]] = neck
    pts[:, J["head_top"]] = neck + seg.head * head_up

    for side, sign, ph, scale in (("r", -1.0, ph_r, arm_scale[0]), ("l", 1.0, ph_l, arm_scale[1])):
        swing = np.cos(TAU * (ph + 0.5))
        s = (p.arm_offset + scale * p.arm_swing * swing) * RAD + smooth_noise(1.0)
        e = p.elbow_flex * (1.0 + 0.5 * scale * swing) * RAD
        shoulder = thorax + _rot_z(np.array([0.0, sign * seg.shoulder_width / 2, -0.012 * p.height]), yaw_s)
        elbow = shoulder + seg.upper_arm * _sagittal(s, sign, p.arm_abduction * RAD)
        wrist = elbow + seg.forearm * _sagittal(s + e, sign, p.arm_abduction * RAD * 0.6)
        pts[:, J[f"{side}_shoulder"]] = shoulder
        pts[:, J[f"{side}_elbow"]] = elbow
        pts[:, J[f"{side}_wrist"]] = wrist

    # Stand on the ground: the lowest point of either foot touches z = -sole.
    lowest = np.minimum(toes[..., 2].min(1), heels[..., 2].min(1))
    lift = sole - lowest
    # Speed from the stance foot: the ankle moves back relative to the pelvis while it stands still on the ground.
    grid = np.linspace(0.0, 1.0, 201)
    h, k, _ = leg_angles(p, grid, 1.0, step_height)
    ankle_x = seg.thigh * np.sin(h) + seg.shank * np.sin(h - k)
    stance = (grid > 0.05) & (grid < 0.55)
    speed = float((ankle_x[stance][0] - ankle_x[stance][-1]) / ((0.5) / f_cycle))

    theta = heading_deg * RAD
    fwd = np.array([np.sin(theta), -np.cos(theta)])
    left = np.array([np.cos(theta), np.sin(theta)])
    travel = speed * (t - t[-1] / 2.0)

    def to_world(b: np.ndarray) -> np.ndarray:
        w = np.empty_like(b)
        x, y = b[..., 0], b[..., 1]
        shape = (-1,) + (1,) * (b.ndim - 2)
        tr = travel.reshape(shape)
        w[..., 0] = centre[0] + fwd[0] * (x + tr) + left[0] * y
        w[..., 1] = centre[1] + fwd[1] * (x + tr) + left[1] * y
        w[..., 2] = b[..., 2] + lift.reshape(shape)
        return w

    return Walk(to_world(pts), to_world(toes), to_world(heels), fwd, speed, seg)
