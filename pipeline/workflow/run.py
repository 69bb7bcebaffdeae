"""The main job: synth → preprocess → train → index → evaluate → serve, each stage through its own command's code.

Every stage is parsed and run exactly as `gait <stage> --config FILE` would be, so the main job, the per-stage
Ray jobs in jobs/ and the command line cannot drift apart. Stages reuse what an earlier run built with the same
config (a complete dataset, shards and model made from the same inputs and options; indexing skips what the
gallery holds), unless told to start over.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig, apply_config, load_config

STAGES = ("synth", "preprocess", "train", "index", "evaluate", "serve")


@dataclass
class PipelineResult:
    """What the main job did: seconds and summary lines per stage, and the evaluation's metrics."""

    config: RunConfig
    seconds: dict[str, float] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None

    def summary(self) -> list[str]:
        from pipeline.evaluate.summary import summary_lines

        out = [f"== {self.config.name}: pipeline summary ({self.config.workdir}) =="]
        for stage in STAGES:
            if stage == "evaluate" and self.metrics is not None:
                out += summary_lines(self.metrics)
            else:
                out += self.lines.get(stage, [])
        out.append("")
        out.append(f"  {'stage':<12}{'seconds':>9}")
        for stage, seconds in self.seconds.items():
            out.append(f"  {stage:<12}{seconds:>9.1f}")
        out.append(f"  {'total':<12}{sum(self.seconds.values()):>9.1f}")
        if self.metrics and "report" in self.metrics:
            out.append(f"report: {self.metrics['report']}")
        return out

    def record(self) -> dict[str, Any]:
        """The summary as data (WORKDIR/summary.json): what a job's caller or a test reads back."""
        rec: dict[str, Any] = {"name": self.config.name, "workdir": self.config.workdir, "seconds": self.seconds}
        if self.metrics is not None:
            rec["report"] = self.metrics.get("report")
            rec["rank1"] = {
                name: {c: m["rank"][c]["rank1"] for c in self.metrics["conditions"]}
                for name, m in self.metrics["methods"].items()
                if "rank" in m
            }
            rec["eer"] = {
                name: m["verification"]["eer"] for name, m in self.metrics["methods"].items() if "verification" in m
            }
        rec["lines"] = self.lines
        return rec


def command_args(command: str, argv: list[str]) -> argparse.Namespace:
    """`gait COMMAND ARGV` parsed as the command line parses it, the config file's defaults included."""
    from pipeline.cli import build_parser, subcommands

    parser = subcommands(build_parser())[command]
    apply_config(parser, command, argv)
    return parser.parse_args(argv)


def remove(uri_or_path: str) -> None:
    """Delete a stage's output (local or object store) so that --overwrite rebuilds it."""
    from pipeline.common.storage import is_dir, resolve

    fs, path = resolve(uri_or_path)
    if is_dir(fs, path):
        fs.delete_dir(path)


def run_pipeline(
    config: str,
    *,
    workdir: str | None = None,
    overwrite: bool = False,
    stages: Sequence[str] = STAGES,
    address: str | None = None,
) -> PipelineResult:
    """Run `stages` of `config` in order; returns the seconds and summary of each."""
    from pipeline.evaluate import cli as evaluate_cli
    from pipeline.identify import cli as identify_cli
    from pipeline.ingest import cli as ingest_cli
    from pipeline.synth import cli as synth_cli
    from pipeline.train import cli as train_cli

    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; the stages are {', '.join(STAGES)}")
    cfg = load_config(config, workdir)
    common = ["--config", str(config), *(["--workdir", workdir] if workdir else [])]
    ray_opts = ["--address", address] if address else []
    again = ["--overwrite"] if overwrite else []
    result = PipelineResult(cfg)

    def timed(stage: str, fn: Any) -> Any:
        print(f"== {stage} ==", flush=True)
        t0 = time.perf_counter()
        out = fn()
        result.seconds[stage] = round(time.perf_counter() - t0, 1)
        return out

    if "synth" in stages and cfg.source == cfg.path("synth"):  # a config that names its own data has no synth
        made = timed("synth", lambda: synth_cli.execute(command_args("synth", [*common, *ray_opts, *again])))
        result.lines["synth"] = made.lines()
    if "preprocess" in stages:
        argv = [*common, *ray_opts, *(again or ["--reuse"])]
        made = timed("preprocess", lambda: ingest_cli.execute(command_args("preprocess", argv)))
        result.lines["preprocess"] = made.lines()
    if "train" in stages:
        argv = [*common, *ray_opts, *(again or ["--reuse"])]
        made = timed("train", lambda: train_cli.execute(command_args("train", argv)))
        result.lines["train"] = [*made.lines(), f"  curves: {cfg.path('model')}/curves.png"]
    if "index" in stages:
        if overwrite:
            remove(cfg.path("gallery"))
        made = timed("index", lambda: identify_cli.execute_index(command_args("index", [*common, *ray_opts])))
        result.lines["index"] = made.lines()
    if "evaluate" in stages:
        result.metrics = timed("evaluate", lambda: evaluate_cli.execute(command_args("evaluate", common)))
    if "serve" in stages:
        from pipeline.serve.demo import serve_and_identify

        args = command_args("serve", [*common, *ray_opts])
        result.lines["serve"] = timed(
            "serve",
            lambda: serve_and_identify(Path(args.model), args.gallery, Path(cfg.workdir).absolute(), args.address),
        )
    write_record(cfg, result.record())
    return result


def write_record(cfg: RunConfig, record: dict[str, Any]) -> None:
    """WORKDIR/summary.json, written whole or not at all."""
    from pipeline.common.storage import resolve

    data = json.dumps(record, indent=2, default=str).encode()
    fs, path = resolve(cfg.path("summary.json"))
    if fs.type_name == "local":
        from pipeline.common.atomic import atomic_write_bytes

        atomic_write_bytes(path, data)
    else:  # an object store writes an object whole
        with fs.open_output_stream(path) as fh:
            fh.write(data)
