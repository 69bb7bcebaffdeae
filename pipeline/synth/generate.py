"""A dataset from a config: one Ray task per sequence, files written atomically, resumable, swapped in at the end.

Output tree (CASIA-B layout; see docs/synthetic-data.md):
    OUT/dataset.json                        written last: config, counts, joint names, the sequence list
    OUT/videos/001-nm-01-090.mp4            when output is video or both
    OUT/frames/001/nm-01/090/*.png          when output is frames or both (CASIA-A: OUT/gaitdb/...)
    OUT/silhouettes/001/nm-01/090/*.png     with silhouette_png
    OUT/annotations/001-nm-01-090.{npz,json}
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from pipeline.common.atomic import atomic_write_bytes, atomic_write_json
from pipeline.common.skeleton import BONES, JOINT_NAMES
from pipeline.common.synthetic_format import FORMAT, FORMAT_VERSION, INDEX_FILE, decode_truth, encode_truth
from pipeline.synth import layout as L
from pipeline.synth.appearance import Outfit, Person
from pipeline.synth.config import SynthConfig
from pipeline.synth.covariates import make_covariate
from pipeline.synth.kinematics import walk
from pipeline.synth.params import GaitParams
from pipeline.synth.render import Rendered, render_empty, render_walk
from pipeline.synth.scene import Filming, Scene, build_scene
from pipeline.synth.staging import finish, finished_or_staging, generate_items


def subject_identity(seed: int, subject: int) -> tuple[GaitParams, Person]:
    """A person's gait and looks: from (seed, subject) alone, so adding subjects never changes earlier ones."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, subject]))
    return GaitParams.sample(rng), Person.sample(rng)


@functools.lru_cache(maxsize=32)
def _scene(seed: int, view: int, width: int, height: int) -> Scene:
    return build_scene(seed, view, width, height)


@dataclass
class SequenceData:
    spec: L.SequenceSpec
    rendered: Rendered
    meta: dict[str, Any]


def render_sequence(cfg: SynthConfig, spec: L.SequenceSpec, condition: str | None = None) -> SequenceData:
    """Render one sequence. `condition` overrides the spec's condition while keeping its random draws."""
    scene = _scene(cfg.seed, spec.view, cfg.width, cfg.height)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 2, *spec.seed_key()]))
    if spec.is_background:
        filming = Filming.sample(rng, cfg.background_frames)
        frames = render_empty(scene, filming, rng)
        n = frames.shape[0]
        rendered = Rendered(
            frames=frames,
            masks=np.zeros(frames.shape[:3], np.uint8),
            joints=np.zeros((n, len(JOINT_NAMES), 3), np.float32),
            boxes=np.full((n, 4), np.nan, np.float32),
        )
        return SequenceData(spec, rendered, _meta(cfg, spec, scene, None, {"condition": "bkgrd"}, 0.0))

    base, person = subject_identity(cfg.seed, spec.subject)
    params = base.jitter(rng, cfg.jitter)
    params, cov = make_covariate(condition or spec.condition, params, rng)
    outfit = Outfit.sample(rng)
    filming = Filming.sample(rng, cfg.frames)
    centre = (float(rng.uniform(-0.3, 0.3)), scene.distance + float(rng.uniform(-0.6, 0.6)))
    w = walk(
        params,
        cfg.frames,
        cfg.fps,
        phase0=float(rng.random()),
        heading_deg=spec.view,
        centre=centre,
        rng=rng,
        arm_scale=cov.arm_scale,
        step_height=cov.step_height,
        sole=cov.sole,
    )
    rendered = render_walk(scene, filming, w, person, outfit, cov, params.build, rng)
    return SequenceData(spec, rendered, _meta(cfg, spec, scene, params, cov.describe(), w.speed))


def _meta(
    cfg: SynthConfig, spec: L.SequenceSpec, scene: Scene, params: GaitParams | None, cov: dict, speed: float
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "subject": L.subject_name(spec.subject, cfg.layout),
        "condition": spec.condition,
        "sequence": spec.sequence,
        "view": spec.view,
        "frames": cfg.background_frames if spec.is_background else cfg.frames,
        "fps": cfg.fps,
        "width": cfg.width,
        "height": cfg.height,
        "covariate": cov,
        "camera": {"f": scene.camera.f, "cx": scene.camera.cx, "cy": scene.camera.cy, "height_m": scene.camera.h},
    }
    if params is not None:
        meta["gait"] = params.as_dict()
        meta["speed_m_s"] = speed
    return meta


def write_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """An mp4 (mp4v) written beside its final name and renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}.{os.getpid()}.tmp.mp4"
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot open an mp4 writer for {path}")
    for f in frames:
        writer.write(f)
    writer.release()
    os.replace(tmp, path)


def _write_pngs(folder: Path, names: list[str], images: np.ndarray) -> None:
    """A folder of PNGs, written beside and renamed into place, so it is never half there."""
    tmp = folder.parent / f".{folder.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, img in zip(names, images, strict=True):
        if not cv2.imwrite(str(tmp / name), img):
            raise RuntimeError(f"cannot write {tmp / name}")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def write_sequence(root: Path, cfg: SynthConfig, data: SequenceData) -> dict[str, Any]:
    """Write a rendered sequence; the annotation JSON goes last and marks the sequence complete."""
    spec, r, lay = data.spec, data.rendered, cfg.layout
    entry: dict[str, Any] = {
        "id": spec.stem(lay),
        **{k: data.meta[k] for k in ("subject", "condition", "sequence", "view")},
    }
    if cfg.output in ("video", "both") and lay == "casia-b":
        write_video(root / L.video_path(spec, lay), r.frames, cfg.fps)
        entry["video"] = L.video_path(spec, lay)
    if cfg.output in ("frames", "both") or lay == "casia-a":
        names = [L.frame_name(spec, lay, i) for i in range(r.frames.shape[0])]
        _write_pngs(root / L.frame_dir(spec, lay), names, r.frames)
        entry["frames"] = L.frame_dir(spec, lay)
    if cfg.silhouette_png and not spec.is_background:
        names = [L.frame_name(spec, lay, i) for i in range(r.masks.shape[0])]
        _write_pngs(root / L.frame_dir(spec, lay, "silhouettes"), names, r.masks)
        entry["silhouettes"] = L.frame_dir(spec, lay, "silhouettes")
    atomic_write_bytes(root / L.annotation_path(spec, lay, "npz"), encode_truth(r.joints, r.boxes, r.masks))
    entry["annotation"] = L.annotation_path(spec, lay, "npz")
    atomic_write_json(root / L.annotation_path(spec, lay, "json"), {**data.meta, **entry})
    return entry


def load_annotation(root: str | os.PathLike[str], stem: str) -> dict[str, Any]:
    """Ground truth of one sequence: joints [T,16,3], boxes [T,4], silhouettes bool [T,H,W], and its metadata."""
    root = Path(root)
    out: dict[str, Any] = decode_truth(str(root / "annotations" / f"{stem}.npz"))
    out["silhouettes"] = out["silhouettes"].astype(bool)
    out["meta"] = json.loads((root / "annotations" / f"{stem}.json").read_text())
    return out


def dataset_specs(cfg: SynthConfig) -> list[L.SequenceSpec]:
    specs = [
        L.SequenceSpec(s, cond, q, v)
        for s in range(1, cfg.subjects + 1)
        for cond, n in cfg.sequences.items()
        for q in range(1, n + 1)
        for v in cfg.views
    ]
    if cfg.background_frames > 0:
        specs += [L.SequenceSpec(s, "bkgrd", 0, v) for s in range(1, cfg.subjects + 1) for v in cfg.views]
    return specs


def _generate_one(cfg_dict: dict[str, Any], spec: L.SequenceSpec, root: str) -> dict[str, Any]:
    cfg = SynthConfig.from_dict(cfg_dict)
    t0 = time.perf_counter()
    entry = write_sequence(Path(root), cfg, render_sequence(cfg, spec))
    return {
        "entry": entry,
        "frames": cfg.background_frames if spec.is_background else cfg.frames,
        "seconds": time.perf_counter() - t0,
    }


@dataclass
class GenerationSummary:
    out: Path
    config: SynthConfig
    sequences: int
    background_clips: int
    frames: int
    seconds: float
    generated: int  # sequences made by this run (the rest were already there)
    bytes: int = 0
    per_condition: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        c = self.config
        rate = self.frames / self.seconds if self.seconds > 0 and self.generated else float("nan")
        return [
            f"synthetic gait dataset: {self.out}",
            f"  subjects {c.subjects}, views {list(c.views)}, conditions "
            + ", ".join(f"{k}×{v}" for k, v in c.sequences.items()),
            f"  sequences {self.sequences} ({', '.join(f'{k} {v}' for k, v in self.per_condition.items())}),"
            f" background plates {self.background_clips}",
            f"  frames {self.frames} at {c.width}x{c.height}, {c.fps:g} fps; layout {c.layout}, output {c.output}",
            f"  on disk {self.bytes / 1e6:.1f} MB; generated {self.generated} now in {self.seconds:.1f} s"
            + (f" ({rate:.0f} frames/s)" if self.generated else " (all already there)"),
        ]


def _dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _summary(out: Path, cfg: SynthConfig, entries: list[dict], seconds: float, generated: int) -> GenerationSummary:
    walks = [e for e in entries if e["condition"] != "bkgrd"]
    per_cond: dict[str, int] = {}
    for e in walks:
        per_cond[e["condition"]] = per_cond.get(e["condition"], 0) + 1
    return GenerationSummary(
        out=out,
        config=cfg,
        sequences=len(walks),
        background_clips=len(entries) - len(walks),
        frames=len(walks) * cfg.frames + (len(entries) - len(walks)) * cfg.background_frames,
        seconds=seconds,
        generated=generated,
        bytes=_dir_bytes(out),
        per_condition=per_cond,
    )


def generate_dataset(
    cfg: SynthConfig,
    out: str | os.PathLike[str],
    *,
    parallel: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    ray_address: str | None = None,
) -> GenerationSummary:
    """Generate `cfg` into `out`. Same config already there → nothing to do. A crash leaves a partial sibling
    that the next run resumes; `out` itself only ever holds a complete dataset."""
    out = Path(out).absolute()
    t0 = time.perf_counter()
    existing, staging = finished_or_staging(out, INDEX_FILE, cfg.hash(), cfg.to_dict(), overwrite)
    if existing is not None:
        return _summary(out, cfg, existing["sequences"], time.perf_counter() - t0, 0)

    specs = dataset_specs(cfg)
    entries: dict[L.SequenceSpec, dict] = {}
    todo = {}
    for spec in specs:
        ann = staging / L.annotation_path(spec, cfg.layout, "json")
        if ann.exists():  # complete from an earlier, interrupted run
            meta = json.loads(ann.read_text())
            entries[spec] = {k: meta[k] for k in ("id", "subject", "condition", "sequence", "view") if k in meta} | {
                k: meta[k] for k in ("video", "frames", "silhouettes", "annotation") if k in meta
            }
        else:
            todo[spec] = (spec,)

    with tqdm(
        total=len(specs),
        initial=len(specs) - len(todo),
        desc="synth",
        unit="seq",
        disable=not progress,
        mininterval=1.0,
    ) as bar:
        made = generate_items(_generate_one, cfg.to_dict(), todo, staging, bar, parallel, ray_address)
    entries |= {spec: result["entry"] for spec, result in made.items()}

    ordered = [entries[s] for s in specs]
    summary_counts = _summary(staging, cfg, ordered, 0.0, len(todo))
    index = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": cfg.to_dict(),
        "config_hash": cfg.hash(),
        "layout": cfg.layout,
        "joint_names": list(JOINT_NAMES),
        "bones": [list(b) for b in BONES],
        "counts": {
            "subjects": cfg.subjects,
            "sequences": summary_counts.sequences,
            "background_clips": summary_counts.background_clips,
            "frames": summary_counts.frames,
        },
        "sequences": ordered,
    }
    finish(staging, out, INDEX_FILE, index)
    return _summary(out, cfg, ordered, time.perf_counter() - t0, len(todo))
