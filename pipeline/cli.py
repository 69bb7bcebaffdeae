"""The `gait` command. Each stage owns its subcommand; this module only gathers them."""

from __future__ import annotations

import argparse
import sys

from pipeline import __version__
from pipeline.config import apply_config
from pipeline.evaluate import cli as evaluate_cli
from pipeline.identify import cli as identify_cli
from pipeline.ingest import cli as ingest_cli
from pipeline.pose import cli as pose_cli
from pipeline.serve import cli as serve_cli
from pipeline.synth import cli as synth_cli
from pipeline.train import cli as train_cli
from pipeline.workflow import cli as workflow_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gait",
        description="Gait recognition on Ray: generate data, preprocess video, train, index, evaluate, serve.",
    )
    parser.add_argument("--version", action="version", version=f"gait {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    synth_cli.add_parser(sub)
    ingest_cli.add_parser(sub)
    train_cli.add_parser(sub)
    pose_cli.add_parser(sub)
    identify_cli.add_parser(sub)
    evaluate_cli.add_parser(sub)
    serve_cli.add_parser(sub)
    workflow_cli.add_parser(sub)
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser of each `gait` command, by name."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    commands = subcommands(parser)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in commands:
        try:
            apply_config(commands[command], command, argv[argv.index(command) + 1 :])
        except (FileNotFoundError, ValueError) as exc:
            raise SystemExit(f"gait {command}: {exc}") from exc
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
