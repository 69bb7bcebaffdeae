"""Run configs (configs/*.yaml): one file names where a run's outputs go and the settings of every stage.

The same file drives `gait <stage> --config FILE`, `jobs/<stage>.py --config FILE` and the main job: a stage's
paths default to the run's workdir (WORKDIR/synth, /shards, /model, /gallery) and its options to the file's
section of that stage, so a command line only says what differs.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.ingest.config import PRESETS as PREPROCESS_PRESETS
from pipeline.ingest.config import PreprocessConfig
from pipeline.synth.config import PRESETS, SynthConfig
from pipeline.train.config import PRESETS as TRAIN_PRESETS
from pipeline.train.config import TrainConfig

_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")

# Sections whose keys are the options of a `gait` command, by the option's name (`batch_size` for --batch-size).
OPTION_SECTIONS = ("index", "evaluate", "serve")


@dataclass(frozen=True)
class RunConfig:
    """A parsed config file: where the run's outputs go, what it reads, and each stage's settings."""

    name: str
    workdir: str  # a local directory or a URI (s3://bucket/run, gs://...) shared by every node of a cluster
    source: str  # the dataset the run preprocesses and indexes (default: the synthetic one it generates)
    synth: SynthConfig
    preprocess: PreprocessConfig
    train: TrainConfig
    raw: dict[str, Any] = field(default_factory=dict)

    def path(self, name: str) -> str:
        """WORKDIR/name: a local absolute path, or a URI when the workdir is one."""
        return under(self.workdir, name)

    def options(self, section: str) -> dict[str, Any]:
        """The options a section (index, evaluate, serve) sets, by option name."""
        return {k.replace("-", "_"): v for k, v in (self.raw.get(section) or {}).items()}

    def defaults(self, command: str) -> dict[str, Any]:
        """What `gait COMMAND --config FILE` takes when the command line leaves it out."""
        paths: dict[str, dict[str, Any]] = {
            "synth": {"out": self.path("synth")},
            "preprocess": {"src": self.source, "out": self.path("shards")},
            "train": {"shards": self.path("shards"), "out": self.path("model")},
            "index": {
                "archive": self.source,
                "model": self.path("model"),
                "out": self.path("gallery"),
                **self.options("index"),
            },
            "evaluate": {
                "model": self.path("model"),
                "shards": self.path("shards"),
                "gallery": self.path("gallery"),
                **self.options("evaluate"),
            },
            "serve": {"model": self.path("model"), "gallery": self.path("gallery"), **self.options("serve")},
            "deploy": {"model": self.path("model"), "gallery": self.path("gallery"), **self.options("serve")},
        }
        return paths.get(command, {})


def load_config(path: str | Path, workdir: str | Path | None = None) -> RunConfig:
    path = Path(path)
    raw = yaml.safe_load(path.read_text()) or {}
    unknown = set(raw) - {"name", "workdir", "source", "synth", "preprocess", "train", *OPTION_SECTIONS}
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}")
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
    work = str(workdir or raw.get("workdir", f"runs/{path.stem}"))
    return RunConfig(
        name=str(raw.get("name", path.stem)),
        workdir=work,
        source=str(raw["source"]) if raw.get("source") else under(work, "synth"),
        synth=synth,
        preprocess=pre,
        train=train_cfg,
        raw=raw,
    )


def under(workdir: str, name: str) -> str:
    """workdir/name: a local absolute path, or a URI when the workdir is one (s3://bucket/run/name)."""
    if _URI.match(workdir):
        return f"{workdir.rstrip('/')}/{name}"
    return str((Path(workdir) / name).absolute())


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """--config and --workdir, the same on every command that a config file can drive."""
    p.add_argument("--config", help="run config (configs/*.yaml): paths default to its workdir, options to its section")
    p.add_argument("--workdir", help="with --config: where the run's outputs go instead of the config's workdir")


def apply_config(parser: argparse.ArgumentParser, command: str, argv: list[str]) -> RunConfig | None:
    """Before parsing `gait COMMAND ...`: make the config file's paths and options the command's defaults."""
    pre = argparse.ArgumentParser(add_help=False)
    add_config_arguments(pre)
    known, _ = pre.parse_known_args(argv)
    if not known.config:
        return None
    cfg = load_config(known.config, known.workdir)
    defaults = cfg.defaults(command)
    dests = {a.dest for a in parser._actions}
    unknown = sorted(set(defaults) - dests)
    if unknown:
        raise SystemExit(f"gait {command}: {known.config} sets {unknown}, which `gait {command}` has no option for")
    parser.set_defaults(**defaults)
    return cfg
