"""The train stage's one entry: a config and its shards and model directory in, the training summary out."""

from __future__ import annotations

from pipeline.train.config import TrainConfig, TrainPaths
from pipeline.train.run import TrainSummary, train, train_or_reuse


def run(
    config: TrainConfig,
    paths: TrainPaths,
    *,
    address: str | None = None,
    overwrite: bool = False,
    reuse: bool = False,
) -> TrainSummary:
    """Train on `paths.shards` into the model directory `paths.out`. With `reuse`, a model trained on the same
    shards with the same config is kept; otherwise an existing OUT is a FileExistsError unless `overwrite`.
    `overwrite` trains anew: the checkpoints of a run with these shards and this config are discarded."""
    options = {"overwrite": overwrite, "fresh": overwrite, "storage_path": paths.storage_path, "ray_address": address}
    if reuse:
        return train_or_reuse(paths.shards, paths.out, config, **options)
    return train(paths.shards, paths.out, config, **options)
