"""The 16 MPII joints in MPII's order, and the limbs drawn between them."""

from __future__ import annotations

JOINT_NAMES: tuple[str, ...] = (
    "r_ankle",
    "r_knee",
    "r_hip",
    "l_hip",
    "l_knee",
    "l_ankle",
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    "r_wrist",
    "r_elbow",
    "r_shoulder",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
)
J = {name: i for i, name in enumerate(JOINT_NAMES)}
NUM_JOINTS = len(JOINT_NAMES)

# Bones for drawing a skeleton over a frame (pairs of joint indices).
BONES: tuple[tuple[int, int], ...] = (
    (J["r_ankle"], J["r_knee"]),
    (J["r_knee"], J["r_hip"]),
    (J["r_hip"], J["pelvis"]),
    (J["l_hip"], J["pelvis"]),
    (J["l_knee"], J["l_hip"]),
    (J["l_ankle"], J["l_knee"]),
    (J["pelvis"], J["thorax"]),
    (J["thorax"], J["upper_neck"]),
    (J["upper_neck"], J["head_top"]),
    (J["r_wrist"], J["r_elbow"]),
    (J["r_elbow"], J["r_shoulder"]),
    (J["r_shoulder"], J["thorax"]),
    (J["l_shoulder"], J["thorax"]),
    (J["l_elbow"], J["l_shoulder"]),
    (J["l_wrist"], J["l_elbow"]),
)
