"""Run configs (configs/*.yaml): one file names the preset and the overrides of every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.ingest.config import PRESETS as PREPROCESS_PRESETS
from pipeline.ingest.config import PreprocessConfig
from pipeline.synth.config import PRESETS, SynthConfig
from pipeline.train.config import PRESETS as TRAIN_PRESETS
from pipeline.train.config import TrainConfig


@dataclass(frozen=True)
class RunConfig:
    """A parsed config file: where the run's outputs go, and each stage's settings."""

    name: str
    workdir: Path
    synth: SynthConfig
    preprocess: PreprocessConfig
    train: TrainConfig
    raw: dict[str, Any] = field(default_factory=dict)


def load_config(path: str | Path, workdir: str | Path | None = None) -> RunConfig:
    path = Path(path)
    raw = yaml.safe_load(path.read_text()) or {}
    synth_raw = dict(raw.get("synth") or {})
    preset = synth_raw.pop("preset", "demo")
    if preset not in PRESETS:
        raise ValueError(f"{path}: unknown synth preset {preset!r}; known: {sorted(PRESETS)}")
    synth = PRESETS[preset]
    if synth_raw:
        base = synth.to_dict()
        base.update(synth_raw)
        synth = SynthConfig.from_dict(base)
    pre_raw = dict(raw.get("preprocess") or {})
    pre_preset = pre_raw.pop("preset", "demo")
    if pre_preset not in PREPROCESS_PRESETS:
        raise ValueError(f"{path}: unknown preprocess preset {pre_preset!r}; known: {sorted(PREPROCESS_PRESETS)}")
    pre = PREPROCESS_PRESETS[pre_preset].with_changes(**pre_raw) if pre_raw else PREPROCESS_PRESETS[pre_preset]
    train_raw = dict(raw.get("train") or {})
    train_preset = train_raw.pop("preset", "demo")
    if train_preset not in TRAIN_PRESETS:
        raise ValueError(f"{path}: unknown train preset {train_preset!r}; known: {sorted(TRAIN_PRESETS)}")
    base = TRAIN_PRESETS[train_preset]
    merged = base.to_dict()
    for key, value in train_raw.items():  # a stage's section overrides only the fields it names
        merged[key] = (
            {**merged[key], **value} if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    train_cfg = TrainConfig.from_dict(merged)
    return RunConfig(
        name=str(raw.get("name", path.stem)),
        workdir=Path(workdir or raw.get("workdir", f"runs/{path.stem}")),
        synth=synth,
        preprocess=pre,
        train=train_cfg,
        raw=raw,
    )
