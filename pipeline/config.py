"""Run configs (configs/*.yaml): one file names the preset and the overrides of every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.synth.config import PRESETS, SynthConfig


@dataclass(frozen=True)
class RunConfig:
    """A parsed config file: where the run's outputs go, and each stage's settings."""

    name: str
    workdir: Path
    synth: SynthConfig
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
    return RunConfig(
        name=str(raw.get("name", path.stem)),
        workdir=Path(workdir or raw.get("workdir", f"runs/{path.stem}")),
        synth=synth,
        raw=raw,
    )
