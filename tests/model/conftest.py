"""Tiny shards with ground-truth joints, for training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.preprocess import preprocess
from pipeline.synth import generate_dataset
from tests.data.conftest import TINY


@pytest.fixture(scope="session")
def tiny_shards(ray_local, tmp_path_factory) -> Path:
    """5 subjects (3 train, with a val sequence each), 32x32 clips of 8 frames."""
    root = tmp_path_factory.mktemp("train-data")
    synth = TINY.with_changes(subjects=5)  # the data tests' tiny dataset, one subject more
    generate_dataset(synth, root / "synth", parallel=False, progress=False)
    cfg = PreprocessConfig(width=32, height=32, clip_len=8, stride=4, min_frames=4)
    preprocess(str(root / "synth"), str(root / "shards"), cfg)
    return root / "shards"
