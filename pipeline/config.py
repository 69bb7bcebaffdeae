"""Run configs (configs/*.yaml): one file names the preset and the overrides of every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.ingest.config import PRESETS as PREPROCESS_PRESETS
from pipeline.ingest.config import PreprocessConfig
from pipeline.synth.config import PRESETS, SynthConfig


@dataclass(frozen=True)
class RunConfig:
    """A parsed config file: where the run's outputs go, and each stage's settings."""

    name: str
    workdir: Path
    synth: SynthConfig
    preprocess: PreprocessConfig
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
    return RunConfig(
        name=str(raw.get("name", path.stem)),
        workdir=Path(workdir or raw.get("workdir", f"runs/{path.stem}")),
        synth=synth,
        preprocess=pre,
        raw=raw,
    )
