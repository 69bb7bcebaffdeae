"""Shared fixtures: one real local Ray per test session, small and without the dashboard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def start_ray() -> None:
    """The tests' embedded Ray: 2 CPUs, a small object store, the project's runtime_env (taken from the
    environment now: a test that needs workers to see variables it sets shuts Ray down and calls this again)."""
    import ray

    from pipeline.common.ray_init import runtime_env

    ray.init(
        num_cpus=2,
        object_store_memory=200 * 1024**2,
        include_dashboard=False,
        runtime_env=runtime_env(),
        log_to_driver=False,
    )


@pytest.fixture(scope="session")
def ray_local():
    """A real embedded Ray with 2 CPUs and a small object store, shared by every test that needs Ray."""
    import ray

    if not ray.is_initialized():
        start_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def local_model(tiny_shards, tmp_path_factory) -> Path:
    """A tiny model (2 epochs a stage) trained on the tiny shards: the model and serving tests use it."""
    out = tmp_path_factory.mktemp("models") / "model"
    from pipeline.train.run import train
    from tests.model.conftest import TINY

    train(str(tiny_shards), out, TINY)
    return out


@pytest.fixture(scope="session")
def tiny_shards(ray_local, tmp_path_factory) -> Path:
    """5 subjects (3 train, with a val sequence each), 32x32 clips of 8 frames."""
    from pipeline.ingest.config import PreprocessConfig
    from pipeline.ingest.preprocess import preprocess
    from pipeline.synth import generate_dataset
    from tests.data.conftest import TINY as TINY_SYNTH

    root = tmp_path_factory.mktemp("train-data")
    synth = TINY_SYNTH.with_changes(subjects=5)  # the data tests' tiny dataset, one subject more
    generate_dataset(synth, root / "synth", parallel=False, progress=False)
    cfg = PreprocessConfig(width=32, height=32, clip_len=8, stride=4, min_frames=4)
    preprocess(str(root / "synth"), str(root / "shards"), cfg)
    return root / "shards"
