"""The synth stage's one entry: a config and where it goes in, the generator's summary out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.synth.config import SynthConfig, SynthPaths

if TYPE_CHECKING:
    from pipeline.synth.crowd_dataset import CrowdConfig, CrowdSummary
    from pipeline.synth.generate import GenerationSummary


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
    if isinstance(config, SynthConfig):
        from pipeline.synth.generate import generate_dataset as generate
    else:
        from pipeline.synth.crowd_dataset import generate_crowd as generate
    return generate(config, paths.out, parallel=parallel, overwrite=overwrite, progress=progress, ray_address=address)  # type: ignore[arg-type]
