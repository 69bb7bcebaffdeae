"""The `gait` command line: it parses flags into a stage's typed settings and prints what the stage returns."""

from pipeline.cli.gait import build_parser, main, parse, subcommands

__all__ = ["build_parser", "main", "parse", "subcommands"]
