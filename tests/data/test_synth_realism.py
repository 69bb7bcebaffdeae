"""Is the synthetic data worth training on? Covariates show, people differ, and appearance gives nobody away."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.common.skeleton import J
from pipeline.synth import SynthConfig
from pipeline.synth.generate import render_sequence, subject_identity
from pipeline.synth.layout import SequenceSpec
from pipeline.synth.params import GaitParams

CFG = SynthConfig(
    subjects=20, sequences={"nm": 2, "bg": 1, "cl": 1}, views=(90,), frames=40, width=64, height=64, background_frames=0
)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.parametrize("condition", ["bg", "cl", "sh"])
@pytest.mark.parametrize("view", [36, 90])
def test_each_covariate_visibly_changes_the_silhouette(condition, view):
    cfg = CFG.with_changes(width=128, height=128, frames=30)
    areas, ious = [], []
    for subject in (1, 2, 3):
        spec = SequenceSpec(subject, condition, 1, view)
        # Same random draws (walk, camera, light), only the condition differs.
        plain = render_sequence(cfg, spec, condition="nm").rendered.masks > 0
        changed = render_sequence(cfg, spec).rendered.masks > 0
        ious.append(np.mean([_iou(a, b) for a, b in zip(plain, changed, strict=True)]))
        areas.append(changed.sum() / plain.sum())
    assert np.mean(ious) < 0.9, f"{condition} barely changes the silhouette (IoU {np.mean(ious):.2f})"
    if condition in ("bg", "cl"):
        assert np.mean(areas) > 1.08, f"{condition} should add area (ratio {np.mean(areas):.2f})"


def test_bag_damps_the_arm_swing_on_its_side():
    spec = SequenceSpec(4, "bg", 1, 90)
    data = render_sequence(CFG, spec)
    cov = data.meta["covariate"]
    side = "r" if cov["bag_side"] == "right" else "l"
    damped = cov["arm_scale"][0 if side == "r" else 1]
    assert damped < 1.0

    def wrist_range(rendered) -> float:
        rel = rendered.joints[:, J[f"{side}_wrist"], 0] - rendered.joints[:, J["pelvis"], 0]
        return float(np.ptp(rel))

    plain = render_sequence(CFG, spec, condition="nm").rendered
    assert wrist_range(data.rendered) < 0.8 * wrist_range(plain)


@pytest.fixture(scope="module")
def twenty_people():
    """20 subjects × (nm-01, nm-02, bg-01, cl-01) at 90°, rendered in memory."""
    out = {}
    for s in range(1, 21):
        for cond, n in CFG.sequences.items():
            for q in range(1, n + 1):
                out[(s, cond, q)] = render_sequence(CFG, SequenceSpec(s, cond, q, 90))
    return out


def _rank1(features: dict, probe_condition: str) -> float:
    gallery = [(k[0], v) for k, v in features.items() if k[1] == "nm" and k[2] == 1]
    labels = np.array([s for s, _ in gallery])
    g = np.stack([v for _, v in gallery])
    probes = [(k[0], v) for k, v in features.items() if k[1] == probe_condition and not (k[1] == "nm" and k[2] == 1)]
    hits = [labels[np.argmin(((g - v) ** 2).sum(1))] == s for s, v in probes]
    return float(np.mean(hits))


def _z(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64).ravel()
    return (x - x.mean()) / (x.std() + 1e-9)


def test_raw_pixels_do_not_identify_people_across_conditions(twenty_people):
    """Nearest neighbour on raw downscaled pixels, gallery nm, probe bg/cl: well below 50% rank-1."""
    mean_frame = {
        k: _z(np.mean([cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA) for f in d.rendered.frames], 0))
        for k, d in twenty_people.items()
    }
    clip = {
        k: _z(
            np.stack(
                [
                    cv2.resize(cv2.cvtColor(d.rendered.frames[i], cv2.COLOR_BGR2GRAY), (16, 16))
                    for i in np.linspace(0, CFG.frames - 1, 8).astype(int)
                ]
            )
        )
        for k, d in twenty_people.items()
    }
    for feats in (mean_frame, clip):
        for cond in ("bg", "cl"):
            assert _rank1(feats, cond) < 0.35


def test_people_differ_in_their_gait(twenty_people):
    """Identity is there to find: the walks' own parameters separate people, and even a crude hand-made feature
    of the true 2-D joints does far better than chance (5%)."""
    params = {k: GaitParams(**d.meta["gait"]).as_vector() for k, d in twenty_people.items()}
    for cond in ("nm", "bg", "cl"):
        assert _rank1(params, cond) >= 0.95

    def pose_feature(joints: np.ndarray) -> np.ndarray:
        j = joints[..., :2].astype(np.float64)
        height = (j[:, [J["r_ankle"], J["l_ankle"]], 1].mean(1) - j[:, J["head_top"], 1])[:, None, None]
        n = (j - j[:, J["pelvis"]][:, None]) / height
        return np.concatenate([n.mean(0).ravel(), n.std(0).ravel()])

    pose = {k: pose_feature(d.rendered.joints) for k, d in twenty_people.items()}
    assert np.mean([_rank1(pose, c) for c in ("nm", "bg", "cl")]) >= 0.4

    base = np.stack([subject_identity(CFG.seed, s)[0].as_vector() for s in range(1, 21)])
    d = np.sqrt(((base[:, None] - base[None]) ** 2).sum(-1))
    assert d[~np.eye(20, dtype=bool)].min() > 1.0, "no two people walk alike"
