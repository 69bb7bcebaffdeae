"""The walking conditions of CASIA-B and TUM-GAID: how a bag, a coat or other shoes change a walk and a body."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.synth.appearance import SHOES, coat_colour
from pipeline.synth.params import GaitParams

BAG_KINDS = ("backpack", "shoulder", "hand")


@dataclass(frozen=True)
class Covariate:
    """Everything a condition changes; `nm` is the identity."""

    condition: str = "nm"
    arm_scale: tuple[float, float] = (1.0, 1.0)  # arm-swing factor, right and left
    step_height: float = 1.0
    sole: float = 0.0  # metres added under the feet
    coat: tuple[int, int, int] | None = None
    bag: str | None = None
    bag_side: int = -1  # -1 right, +1 left
    bag_colour: tuple[int, int, int] = (40, 40, 40)
    bag_size: tuple[float, float, float] = (0.3, 0.12, 0.3)  # width, depth, height
    shoe_colour: tuple[int, int, int] | None = None
    foot_scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"condition": self.condition}
        if self.bag:
            d.update(bag=self.bag, bag_side="right" if self.bag_side < 0 else "left", arm_scale=self.arm_scale)
        if self.coat:
            d["coat"] = True
        if self.condition == "sh":
            d.update(step_height=self.step_height, sole=self.sole, foot_scale=self.foot_scale)
        return d


def make_covariate(condition: str, params: GaitParams, rng: np.random.Generator) -> tuple[GaitParams, Covariate]:
    """The covariate of one sequence (random bag kind, coat colour, shoe) and the gait it leaves."""
    if condition == "nm":
        return params, Covariate()
    if condition == "bg":
        kind = BAG_KINDS[int(rng.integers(len(BAG_KINDS)))]
        side = -1 if rng.random() < 0.5 else 1
        damp = {"backpack": 0.8, "shoulder": 0.4, "hand": 0.2}[kind]
        scale = (damp, 1.0) if side < 0 else (1.0, damp)
        if kind == "backpack":
            scale = (damp, damp)
        size = {
            "backpack": (rng.uniform(0.26, 0.36), rng.uniform(0.12, 0.2), rng.uniform(0.34, 0.48)),
            "shoulder": (rng.uniform(0.24, 0.36), rng.uniform(0.08, 0.14), rng.uniform(0.2, 0.3)),
            "hand": (rng.uniform(0.26, 0.4), rng.uniform(0.08, 0.14), rng.uniform(0.2, 0.32)),
        }[kind]
        colour = tuple(int(c) for c in rng.uniform(15, 200, 3))
        lean = params.torso_lean + (3.0 if kind == "backpack" else 1.0)
        return params.with_changes(torso_lean=lean), Covariate(
            condition="bg", arm_scale=scale, bag=kind, bag_side=side, bag_colour=colour, bag_size=size
        )
    if condition == "cl":
        # A coat restricts the arms a little and hides the thighs' shape.
        return params.with_changes(arm_swing=params.arm_swing * 0.85), Covariate(
            condition="cl", arm_scale=(0.9, 0.9), coat=coat_colour(rng)
        )
    if condition == "sh":
        higher = rng.random() < 0.5
        return params.with_changes(heel_strike=params.heel_strike + (6.0 if higher else -4.0)), Covariate(
            condition="sh",
            step_height=1.15 if higher else 0.85,
            sole=float(rng.uniform(0.02, 0.05)),
            shoe_colour=SHOES[int(rng.integers(len(SHOES)))],
            foot_scale=float(rng.uniform(1.05, 1.15)),
        )
    raise ValueError(f"unknown condition {condition!r}")
