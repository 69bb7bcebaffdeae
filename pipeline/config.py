"""Run configs (configs/*.yaml): one typed `RunConfig` holds where a run's outputs go and every stage's settings.

The same file drives `gait <stage> --config FILE`, `jobs/<stage>.py --config FILE` and the main job. A stage's
paths default to the run's workdir (WORKDIR/synth, /shards, /model, /gallery) and its settings are layered one
way for every command (`pipeline.common.settings.merged`): the preset (the command line's `--preset`, else the
section's `preset:`, else demo), then the file's section, then the command line's flags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from pipeline.common.settings import merged
from pipeline.evaluate.config import EvaluateConfig, EvaluatePaths
from pipeline.identify.config import IndexConfig, IndexPaths
from pipeline.ingest.config import PRESETS as PREPROCESS_PRESETS
from pipeline.ingest.config import PreprocessConfig, PreprocessPaths
from pipeline.serve.config import ServeConfig, ServePaths
from pipeline.synth.config import PRESETS as SYNTH_PRESETS
from pipeline.synth.config import SynthConfig, SynthPaths
from pipeline.train.config import PRESETS as TRAIN_PRESETS
from pipeline.train.config import TrainConfig, TrainPaths

_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")

# section → (settings class, its presets; None: the class's defaults are the only starting point)
SECTIONS: dict[str, tuple[type, Mapping[str, Any] | None]] = {
    "synth": (SynthConfig, SYNTH_PRESETS),
    "preprocess": (PreprocessConfig, PREPROCESS_PRESETS),
    "train": (TrainConfig, TRAIN_PRESETS),
    "index": (IndexConfig, None),
    "evaluate": (EvaluateConfig, None),
    "serve": (ServeConfig, None),
}


@dataclass(frozen=True)
class RunConfig:
    """A parsed config file: where the run's outputs go, what it reads, and each stage's settings."""

    name: str
    workdir: str  # a local directory or a URI (s3://bucket/run, gs://...) shared by every node of a cluster
    source: str  # the dataset the run preprocesses and indexes (default: the synthetic one it generates)
    synth: SynthConfig
    preprocess: PreprocessConfig
    train: TrainConfig
    index: IndexConfig
    evaluate: EvaluateConfig
    serve: ServeConfig
    file: str | None = None  # the YAML it came from (None: defaults and flags only)

    def path(self, name: str) -> str:
        """WORKDIR/name: a local absolute path, or a URI when the workdir is one."""
        return under(self.workdir, name)

    @property
    def generates_source(self) -> bool:
        """The run makes its own (synthetic) data: a config that names a `source:` has no synth stage."""
        return self.source == self.path("synth")

    def with_section(self, section: str, changes: Mapping[str, Any]) -> RunConfig:
        """This config with a section's settings changed (the command line's layer)."""
        where = f"gait {section}" if self.file is None else f"{self.file}: {section}"
        return replace(self, **{section: merged(getattr(self, section), changes, where=where)})

    # Each stage's paths under the workdir: what `gait STAGE --config FILE` reads and writes.
    def synth_paths(self) -> SynthPaths:
        return SynthPaths(out=self.path("synth"))

    def preprocess_paths(self) -> PreprocessPaths:
        return PreprocessPaths(src=self.source, out=self.path("shards"))

    def train_paths(self) -> TrainPaths:
        return TrainPaths(shards=self.path("shards"), out=self.path("model"))

    def index_paths(self) -> IndexPaths:
        return IndexPaths(archive=self.source, model=self.path("model"), out=self.path("gallery"))

    def evaluate_paths(self) -> EvaluatePaths:
        return EvaluatePaths(model=self.path("model"), shards=self.path("shards"), gallery=self.path("gallery"))

    def serve_paths(self) -> ServePaths:
        return ServePaths(model=self.path("model"), gallery=self.path("gallery"))


def load_config(
    path: str | Path | None,
    workdir: str | Path | None = None,
    *,
    presets: Mapping[str, str | None] | None = None,
) -> RunConfig:
    """The run config of a YAML file (None: every stage's defaults), its presets overridden by `presets`
    (the command line's `--preset`, by section)."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: a run config is a mapping of sections")
    unknown = set(raw) - {"name", "workdir", "source", *SECTIONS}
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}")
    sections = {}
    for section, (cls, known_presets) in SECTIONS.items():
        body = {str(k).replace("-", "_"): v for k, v in (raw.get(section) or {}).items()}
        preset = (presets or {}).get(section) or body.pop("preset", None)
        if known_presets is None:
            if preset:
                raise ValueError(f"{path}: {section} has no presets")
            base = cls()
        else:
            preset = preset or "demo"
            if preset not in known_presets:
                raise ValueError(f"{path}: unknown {section} preset {preset!r}; known: {sorted(known_presets)}")
            base = known_presets[preset]
        sections[section] = merged(base, body, where=f"{path}: {section}")
    stem = path.stem if path is not None else "run"
    work = str(workdir or raw.get("workdir", f"runs/{stem}"))
    return RunConfig(
        name=str(raw.get("name", stem)),
        workdir=work,
        source=str(raw["source"]) if raw.get("source") else under(work, "synth"),
        file=None if path is None else str(path),
        **sections,
    )


def under(workdir: str, name: str) -> str:
    """workdir/name: a local absolute path, or a URI when the workdir is one (s3://bucket/run/name)."""
    if _URI.match(workdir):
        return f"{workdir.rstrip('/')}/{name}"
    return str((Path(workdir) / name).absolute())
