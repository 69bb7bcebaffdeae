"""What every `gait` command shares: --config/--workdir, the run config they select, flag parsing helpers.

A command parses its flags, takes its section of the run config (preset, then the file's section), layers the
flags it was given over it (`RunConfig.with_section`), and hands the typed settings and paths to its stage's
`run`. Flags default to None so that "not given" leaves the layer below in place.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from pipeline.config import RunConfig, load_config


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """--config and --workdir, the same on every command that a config file can drive."""
    p.add_argument("--config", help="run config (configs/*.yaml): paths default to its workdir, options to its section")
    p.add_argument("--workdir", help="with --config: where the run's outputs go instead of the config's workdir")


def add_address_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else an embedded local Ray)")


def run_config(command: str, args: argparse.Namespace, section: str, changes: dict[str, Any]) -> RunConfig:
    """The run config of `args.config` (or the defaults without one), with the command line's `--preset` and
    `changes` layered over `section`; a bad file or value is the command's clear exit."""
    try:
        cfg = load_config(args.config, getattr(args, "workdir", None), presets={section: getattr(args, "preset", None)})
        return cfg.with_section(section, changes)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"gait {command}: {exc}") from exc


def given(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The flags among `names` that the command line gave (not None)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def from_config(args: argparse.Namespace, value: Any, default: Any) -> Any:
    """A path as given, else (with --config) the run config's."""
    return value if value is not None else (default if args.config else None)


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must look like 128x128 (width x height), not {text!r}") from exc
    return w, h


def section_defaults(defaults: RunConfig, section: str) -> dict[str, Any]:
    """A section of `defaults` (the run config with no --config and no --preset: the demo preset where the
    section has presets) by flag destination: nested settings as `<field>_<setting>` (train's `pose_epochs`)."""
    out: dict[str, Any] = {}
    for name, value in asdict(getattr(defaults, section)).items():
        out[name] = value
        if isinstance(value, dict):
            out |= {f"{name}_{k}": v for k, v in value.items()}
    return out


def show_defaults(p: argparse.ArgumentParser, settings: Mapping[str, Any]) -> None:
    """End each flag's help with what applies when it is not given: the flag's own default, else the setting
    of the same name in `settings`. Switches, flags without either, and help that already names its default are
    left as they are."""
    for a in p._actions:
        if not a.option_strings or not a.help or a.help == argparse.SUPPRESS or "default" in a.help:
            continue
        if a.nargs == 0:  # a switch (store_true, help, version): its absence is its default
            continue
        value = a.default if a.default is not None else settings.get(a.dest)
        if value is None or value == "" or isinstance(value, dict):
            continue
        a.help = f"{a.help} (default: {_shown(value)})"


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(_shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("%", "%%")  # argparse %-formats help
