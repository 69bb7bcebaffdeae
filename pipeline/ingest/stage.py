"""The preprocess stage's one entry: a config and its source and shards in, the run's summary out."""

from __future__ import annotations

from pipeline.ingest.config import PreprocessConfig, PreprocessPaths
from pipeline.ingest.layouts import survey
from pipeline.ingest.preprocess import PreprocessSummary, preprocess, reusable


def run(
    config: PreprocessConfig,
    paths: PreprocessPaths,
    *,
    address: str | None = None,
    overwrite: bool = False,
    reuse: bool = False,
) -> PreprocessSummary:
    """Decode `paths.src` into shards at `paths.out`. With `reuse`, shards made from the same source with the
    same config are kept, unless files under the source were added, removed or changed since; otherwise an
    existing OUT is a FileExistsError unless `overwrite`."""
    found = None
    if reuse and not overwrite:
        found = survey(paths.src, paths.layout)  # listed once: for the check, and for the shards if remade
        made = reusable(paths.src, paths.out, config, paths.layout, found)
        if made is not None:
            return made
    return preprocess(
        paths.src,
        paths.out,
        config,
        layout=paths.layout,
        overwrite=overwrite or reuse,
        ray_address=address,
        found=found,
    )
