"""The synth stage's one entry: a config and where it goes in, the generator's summary out."""

from __future__ import annotations

from pipeline.synth.config import SynthConfig, SynthPaths
from pipeline.synth.crowd_dataset import CrowdConfig, CrowdSummary, generate_crowd
from pipeline.synth.generate import GenerationSummary, generate_dataset


def run(
    config: SynthConfig | CrowdConfig,
    paths: SynthPaths,
    *,
    address: str | None = None,
    overwrite: bool = False,
    parallel: bool = True,
    progress: bool = True,
) -> GenerationSummary | CrowdSummary:
    """Generate a single-walker dataset (SynthConfig) or multi-walker scenes (CrowdConfig) into `paths.out`.
    The same config already there is kept; another one there is a FileExistsError unless `overwrite`."""
    options = {"parallel": parallel, "overwrite": overwrite, "progress": progress, "ray_address": address}
    if isinstance(config, SynthConfig):
        return generate_dataset(config, paths.out, **options)
    return generate_crowd(config, paths.out, **options)
