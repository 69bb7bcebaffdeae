"""Training settings: model sizes, per-stage optimisation, scaling across Ray Train workers."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class StageConfig:
    """Optimisation of one stage: Adam, ReduceLROnPlateau, EarlyStopping on the validation loss."""

    epochs: int = 10
    batch_size: int = 32  # global batch size, split over the workers
    learning_rate: float = 1e-3
    patience: int = 4  # EarlyStopping: epochs without improvement of val_loss
    lr_patience: int = 2  # ReduceLROnPlateau
    lr_factor: float = 0.5
    min_lr: float = 1e-5


@dataclass(frozen=True)
class TrainConfig:
    """Everything `gait train` needs besides the shards; its hash is part of the model version."""

    backbone: str = "compact"  # compact, vgg16, resnet50
    backbone_weights: str | None = None  # a local weights file; never downloaded
    feature_channels: int = 32
    first_stage: str = "pose"  # pose (HumanPoseNN on RGB) or silhouette (silhouette encoder)
    rnn: str = "lstm"  # lstm or gru
    rnn_layers: int = 1
    units: int = 512
    descriptor: int = 512
    embedding: int = 512
    blocks: int = 2
    branches: int = 1  # > 1: that many GaitNNs side by side, each with its own head, vectors concatenated
    dropout: float = 0.5
    margin: float = 0.0  # > 0: additive-margin softmax (CosFace) with this cosine margin instead of softmax
    triplet_weight: float = 0.0  # > 0 adds a batch-hard triplet loss on the embedding
    finetune_pose: bool = False  # stage 2 trains the pose network too
    precompute_features: bool = True  # frozen pose network: its features computed once, not in every epoch
    heatmap_sigma: float = 1.5  # in heatmap cells (2 input pixels)
    pose_frames_per_clip: int = 8  # frames of each clip used to train stage 1
    gait_train_frames: int = 0  # > 0: GaitNN trains on a random run of this many frames of each clip
    presence_frames_per_video: int = 6
    pose: StageConfig = field(default_factory=lambda: StageConfig(epochs=12, batch_size=64, learning_rate=2e-3))
    gait: StageConfig = field(default_factory=lambda: StageConfig(epochs=20, batch_size=16, learning_rate=1e-3))
    presence: StageConfig = field(default_factory=lambda: StageConfig(epochs=4, batch_size=64, learning_rate=1e-3))
    # Scaling: Ray Train workers (0: one local process without Ray Train, for debugging).
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    mixed_precision: bool = False
    max_failures: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.backbone not in ("compact", "vgg16", "resnet50"):
            problems.append("backbone must be compact, vgg16 or resnet50")
        if self.first_stage not in ("pose", "silhouette"):
            problems.append("first_stage must be pose or silhouette")
        if self.rnn not in ("lstm", "gru") or self.rnn_layers not in (1, 2):
            problems.append("rnn must be lstm or gru with 1 or 2 layers")
        if self.workers < 0 or self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            problems.append("workers must be ≥ 0 and cpus_per_worker > 0")
        if self.gait_train_frames < 0:
            problems.append("gait_train_frames must be ≥ 0")
        if not 0.0 <= self.margin < 1.0:
            problems.append("margin must be in [0, 1)")
        if self.branches < 1 or (self.branches > 1 and self.margin <= 0):
            problems.append("branches must be ≥ 1, and more than 1 needs the additive-margin head (margin > 0)")
        if problems:
            raise ValueError("invalid train config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        for stage in ("pose", "gait", "presence"):
            if isinstance(d.get(stage), dict):
                d[stage] = replace(getattr(cls(), stage), **d[stage])
        return cls(**d)

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def with_changes(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)


PRESETS: dict[str, TrainConfig] = {
    # CPU, minutes: smaller recurrent and embedding sizes than the paper's 512, same architecture.
    "demo": TrainConfig(
        units=128,
        descriptor=128,
        embedding=128,
        blocks=1,
        dropout=0.3,
        pose_frames_per_clip=3,
        # Three GaitNNs in one model (`branches`), margin 0.5: single GaitNNs' held-out BG rank-1 spreads over 86-93%
        # from seed to seed, around GEI's 88.2. Two branches for 30 epochs gave BG 86.8-93.8 in three whole demo runs;
        # three for 20 epochs (the same training time: an ensemble needs fewer epochs than one net) 97.2 / CL 97.2.
        # 3e-4 for GaitNN: at 1e-3 the softmax over 36 people sometimes sat at chance. Shorter schedules that end
        # `make demo` within 10 minutes on 2 CPUs (pose 7-8 epochs, GaitNN 15-16 at 6e-4, one branch) gave new
        # people's NM rank-1 88-93% where the longer one gave 94-97% (docs/training.md).
        margin=0.5,
        branches=3,
        pose=StageConfig(epochs=10, batch_size=64, learning_rate=2e-3),
        gait=StageConfig(epochs=20, batch_size=16, learning_rate=3e-4, patience=5),
        presence=StageConfig(epochs=3, batch_size=64, learning_rate=1e-3, patience=3),
        # One Ray Train worker holding both CPUs of a laptop-sized machine: on 2 CPUs two single-threaded
        # workers and their all-reduce run at half its speed (docs/benchmarks.md). `--workers 2` still works.
        workers=1,
        cpus_per_worker=2,
    ),
    "casia-a": TrainConfig(),
    # A multi-GPU cluster: 4 workers with a GPU each, mixed precision, the paper's sizes.
    "casia-b": TrainConfig(
        workers=4,
        cpus_per_worker=4,
        gpus_per_worker=1,
        mixed_precision=True,
        pose=StageConfig(epochs=40, batch_size=256, learning_rate=2e-3, patience=6),
        gait=StageConfig(epochs=80, batch_size=128, learning_rate=1e-3, patience=10),
        presence=StageConfig(epochs=10, batch_size=256),
    ),
}
