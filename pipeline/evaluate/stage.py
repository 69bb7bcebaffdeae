"""The evaluate stage's one entry: a config, a model and its shards in, the metrics (and a report) out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.common.storage import is_dir, resolve
from pipeline.evaluate.config import EvaluateConfig, EvaluatePaths
from pipeline.evaluate.run import evaluate
from pipeline.evaluate.summary import summary_lines


@dataclass
class EvaluationSummary:
    metrics: dict[str, Any]  # as metrics.json holds them

    def lines(self) -> list[str]:
        return summary_lines(self.metrics)


def has_gallery(uri: str | None) -> bool:
    """A gallery directory is there (a run config's WORKDIR/gallery is not, before any `gait index`)."""
    return bool(uri) and is_dir(*resolve(uri))


def run(config: EvaluateConfig, paths: EvaluatePaths) -> EvaluationSummary:
    """Evaluate the model on the shards' test people; writes metrics.json, report.html and plots to `paths.out`
    (default MODEL/evaluation)."""
    metrics = evaluate(
        paths.model,
        paths.shards,
        gallery=paths.gallery,
        out=paths.out,
        baseline=None if config.baseline == "none" else config.baseline,
        far=config.far,
        actors=config.actors,
        gpus=config.gpus_per_actor,
    )
    return EvaluationSummary(metrics)
