"""The `gait` command: one module of this package per command (the README's table maps commands to stages)."""

from __future__ import annotations

import argparse
import sys

from pipeline import __version__
from pipeline.cli import evaluate, index, pose, preprocess, search, serve, synth, train
from pipeline.cli import pipeline as main_job
from pipeline.cli.args import section_defaults, show_defaults
from pipeline.config import load_config

COMMAND_MODULES = (synth, preprocess, train, pose, index, search, evaluate, serve, main_job)
# the run-config section whose settings a command's flags change (their defaults, shown in --help)
SECTION_OF = {c: c for c in ("synth", "preprocess", "train", "index", "evaluate", "serve")} | {"deploy": "serve"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gait",
        description="Gait recognition on Ray: generate data, preprocess video, train, index, evaluate, serve.",
    )
    parser.add_argument("--version", action="version", version=f"gait {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    defaults = load_config(None)  # once: every command's section of it
    for name, command in subcommands(parser).items():
        show_defaults(command, section_defaults(defaults, SECTION_OF[name]) if name in SECTION_OF else {})
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser of each `gait` command, by name."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def main(argv: list[str] | None = None, *, command: str | None = None) -> int:
    """`gait ARGV`; with `command`, `gait COMMAND ARGV` (a Ray job's entrypoint is one command: jobs/*.py)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if command is not None:
        parser = subcommands(parser)[command]
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


def parse(command: str, argv: list[str]) -> argparse.Namespace:
    """What `gait COMMAND ARGV` parses to (its flags, before any run config is applied)."""
    return subcommands(build_parser())[command].parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
