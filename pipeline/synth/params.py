"""Per-subject body and gait parameters, and the per-sequence jitter that makes two walks of one person differ.

Each field is sampled from a population distribution (mean, sd) chosen from the gait literature's typical
ranges. A sequence perturbs the gait fields by a fraction of the population sd (`jitter`), and the body fields
by far less: a person's bones do not change between walks, their stride does a little.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

# name: (population mean, population sd, lower bound, upper bound, kind); kind "body" or "gait".
PARAM_SPACE: dict[str, tuple[float, float, float, float, str]] = {
    # Body (metres, or ratios of height).
    "height": (1.72, 0.09, 1.48, 1.98, "body"),
    "leg_ratio": (0.485, 0.018, 0.44, 0.53, "body"),  # hip-joint height / height
    "thigh_frac": (0.50, 0.02, 0.45, 0.55, "body"),  # thigh / (thigh + shank)
    "shoulder_ratio": (0.235, 0.012, 0.2, 0.27, "body"),  # shoulder width / height
    "hip_ratio": (0.11, 0.008, 0.09, 0.13, "body"),  # hip-joint separation / height
    "arm_ratio": (0.43, 0.015, 0.39, 0.47, "body"),  # arm length / height
    "build": (1.0, 0.12, 0.75, 1.35, "body"),  # girth of every limb
    "foot_ratio": (0.15, 0.008, 0.13, 0.17, "body"),
    # Gait (degrees, cycles, metres, steps per minute).
    "cadence": (108.0, 8.0, 88.0, 128.0, "gait"),
    "hip_amp": (21.0, 3.0, 14.0, 30.0, "gait"),
    "hip_offset": (7.0, 2.5, 1.0, 14.0, "gait"),
    "knee_swing": (58.0, 6.0, 44.0, 72.0, "gait"),
    "knee_stance": (14.0, 4.0, 4.0, 24.0, "gait"),
    "knee_phase": (0.72, 0.02, 0.67, 0.77, "gait"),
    "ankle_amp": (13.0, 3.0, 6.0, 20.0, "gait"),
    "heel_strike": (4.0, 3.0, -3.0, 10.0, "gait"),
    "arm_swing": (20.0, 6.0, 5.0, 38.0, "gait"),
    "arm_offset": (2.0, 4.0, -6.0, 10.0, "gait"),
    "elbow_flex": (18.0, 7.0, 4.0, 40.0, "gait"),
    "arm_abduction": (8.0, 3.0, 2.0, 16.0, "gait"),
    "torso_lean": (4.0, 2.5, -2.0, 11.0, "gait"),
    "head_tilt": (4.0, 4.0, -6.0, 14.0, "gait"),
    "sway": (0.025, 0.008, 0.008, 0.045, "gait"),
    "pelvis_rotation": (6.0, 2.0, 2.0, 11.0, "gait"),
    "shoulder_counter": (0.6, 0.2, 0.1, 1.1, "gait"),
    "asym_amp": (1.0, 0.06, 0.85, 1.15, "gait"),
    "asym_phase": (0.0, 0.015, -0.04, 0.04, "gait"),
    "toe_out": (8.0, 4.0, -2.0, 18.0, "gait"),
}


@dataclass(frozen=True)
class GaitParams:
    """One person's body proportions and walking style; `sample` draws one, `jitter` makes a walk of them."""

    height: float
    leg_ratio: float
    thigh_frac: float
    shoulder_ratio: float
    hip_ratio: float
    arm_ratio: float
    build: float
    foot_ratio: float
    cadence: float
    hip_amp: float
    hip_offset: float
    knee_swing: float
    knee_stance: float
    knee_phase: float
    ankle_amp: float
    heel_strike: float
    arm_swing: float
    arm_offset: float
    elbow_flex: float
    arm_abduction: float
    torso_lean: float
    head_tilt: float
    sway: float
    pelvis_rotation: float
    shoulder_counter: float
    asym_amp: float
    asym_phase: float
    toe_out: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> GaitParams:
        values = {}
        for name, (mean, sd, lo, hi, _) in PARAM_SPACE.items():
            values[name] = float(np.clip(rng.normal(mean, sd), lo, hi))
        return cls(**values)

    def jitter(self, rng: np.random.Generator, scale: float) -> GaitParams:
        """A walk of this person: gait fields move by `scale` population sd, body fields by a tenth of it."""
        values = {}
        for f in fields(self):
            _, sd, lo, hi, kind = PARAM_SPACE[f.name]
            s = scale if kind == "gait" else scale * 0.1
            values[f.name] = float(np.clip(getattr(self, f.name) + rng.normal(0.0, s * sd), lo, hi))
        return GaitParams(**values)

    def with_changes(self, **changes: float) -> GaitParams:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def as_vector(self) -> np.ndarray:
        """Standardised vector (population z-scores), for comparing people."""
        return np.array([(getattr(self, n) - m) / sd for n, (m, sd, *_rest) in PARAM_SPACE.items()], dtype=np.float32)
