"""The tiny training config of the model tests (the tiny shards and model fixtures are in tests/conftest.py, shared
with the serving tests)."""

from __future__ import annotations

from pipeline.train.config import StageConfig, TrainConfig

TINY = TrainConfig(
    feature_channels=8,
    units=16,
    descriptor=16,
    embedding=16,
    blocks=1,
    dropout=0.2,
    pose_frames_per_clip=2,
    gait_train_frames=6,
    margin=0.35,
    presence_frames_per_video=2,
    pose=StageConfig(epochs=2, batch_size=16),
    gait=StageConfig(epochs=2, batch_size=8),
    presence=StageConfig(epochs=1, batch_size=16),
    workers=0,
)
