"""The main job: synth → preprocess → train → index → evaluate → serve, each stage through its one entry.

The run config is read once; each stage's typed settings and paths go to the same `run` that `gait <stage>
--config FILE` calls, so the main job, the per-stage Ray jobs in jobs/ and the command line cannot drift apart.
Stages reuse what an earlier run built with the same config (a complete dataset, shards and model made from the
same inputs and options; indexing skips what the gallery holds), unless told to start over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pipeline.common.atomic import atomic_write_bytes
from pipeline.common.storage import is_dir, resolve
from pipeline.config import RunConfig, load_config
from pipeline.evaluate import stage as evaluate_stage
from pipeline.evaluate.summary import summary_lines
from pipeline.identify import stage as index_stage
from pipeline.ingest import stage as preprocess_stage
from pipeline.serve.demo import serve_and_identify
from pipeline.synth import stage as synth_stage
from pipeline.train import stage as train_stage

T = TypeVar("T")

STAGES = ("synth", "preprocess", "train", "index", "evaluate", "serve")


@dataclass
class PipelineResult:
    """What the main job did: seconds and summary lines per stage, and the evaluation's metrics."""

    config: RunConfig
    seconds: dict[str, float] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None

    def summary(self) -> list[str]:
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


def remove(uri_or_path: str) -> None:
    """Delete a stage's output (local or object store) so that --overwrite rebuilds it."""
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
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; the stages are {', '.join(STAGES)}")
    cfg = load_config(config, workdir)
    result = PipelineResult(cfg)
    reuse = not overwrite

    def timed(stage: str, fn: Callable[[], T]) -> T:
        print(f"== {stage} ==", flush=True)
        t0 = time.perf_counter()
        out = fn()
        result.seconds[stage] = round(time.perf_counter() - t0, 1)
        return out

    if "synth" in stages and cfg.generates_source:
        made = timed(
            "synth", lambda: synth_stage.run(cfg.synth, cfg.synth_paths(), address=address, overwrite=overwrite)
        )
        result.lines["synth"] = made.lines()
    if "preprocess" in stages:
        paths = cfg.preprocess_paths()
        made = timed(
            "preprocess",
            lambda: preprocess_stage.run(cfg.preprocess, paths, address=address, overwrite=overwrite, reuse=reuse),
        )
        result.lines["preprocess"] = made.lines()
    if "train" in stages:
        paths = cfg.train_paths()
        made = timed(
            "train", lambda: train_stage.run(cfg.train, paths, address=address, overwrite=overwrite, reuse=reuse)
        )
        result.lines["train"] = [*made.lines(), f"  curves: {paths.out}/curves.png"]
    if "index" in stages:
        if overwrite:
            remove(cfg.path("gallery"))
        made = timed("index", lambda: index_stage.run(cfg.index, cfg.index_paths(), address=address))
        result.lines["index"] = made.lines()
    if "evaluate" in stages:
        paths = cfg.evaluate_paths()
        if not evaluate_stage.has_gallery(paths.gallery):  # no `gait index` yet: the shards' clips are embedded
            paths = replace(paths, gallery=None)
        result.metrics = timed("evaluate", lambda: evaluate_stage.run(cfg.evaluate, paths)).metrics
    if "serve" in stages:
        paths = cfg.serve_paths()
        result.lines["serve"] = timed(
            "serve", lambda: serve_and_identify(Path(paths.model), paths.gallery, Path(cfg.workdir).absolute(), address)
        )
    write_record(cfg, result.record())
    return result


def write_record(cfg: RunConfig, record: dict[str, Any]) -> None:
    """WORKDIR/summary.json, written whole or not at all."""
    data = json.dumps(record, indent=2, default=str).encode()
    fs, path = resolve(cfg.path("summary.json"))
    if fs.type_name == "local":
        atomic_write_bytes(path, data)
    else:  # an object store writes an object whole
        with fs.open_output_stream(path) as fh:
            fh.write(data)
