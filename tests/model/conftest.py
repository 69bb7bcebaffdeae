"""Tiny shards with ground-truth joints, and a tiny model trained on them, for the model tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.preprocess import preprocess
from pipeline.synth import generate_dataset
from pipeline.train.config import StageConfig, TrainConfig
from pipeline.train.run import train
from tests.data.conftest import TINY as TINY_SYNTH

TINY = TrainConfig(
    feature_channels=8,
    units=16,
    descriptor=16,
    embedding=16,
    blocks=1,
    dropout=0.2,
    pose_frames_per_clip=2,
    gait_train_frames=6,
    presence_frames_per_video=2,
    pose=StageConfig(epochs=2, batch_size=16),
    gait=StageConfig(epochs=2, batch_size=8),
    presence=StageConfig(epochs=1, batch_size=16),
    workers=0,
)


@pytest.fixture(scope="session")
def local_model(tiny_shards, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "model"
    train(str(tiny_shards), out, TINY)
    return out


@pytest.fixture(scope="session")
def tiny_shards(ray_local, tmp_path_factory) -> Path:
    """5 subjects (3 train, with a val sequence each), 32x32 clips of 8 frames."""
    root = tmp_path_factory.mktemp("train-data")
    synth = TINY_SYNTH.with_changes(subjects=5)  # the data tests' tiny dataset, one subject more
    generate_dataset(synth, root / "synth", parallel=False, progress=False)
    cfg = PreprocessConfig(width=32, height=32, clip_len=8, stride=4, min_frames=4)
    preprocess(str(root / "synth"), str(root / "shards"), cfg)
    return root / "shards"
