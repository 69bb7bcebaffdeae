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
    gait_stride: int = 1  # > 1: GaitNN's per-frame encoder starts with a conv of this stride (models/gait.py)
    presence_frames_per_video: int = 6
    # Stage 2 on silhouettes the field's way (train/streaming.py): "pk" streams the shards and trains on P people
    # × K sequences per batch, random unordered frames, triplet + cross-entropy per strip; "shuffle" is the
    # seed's path (clips materialised and shuffled once, softmax).
    sampler: str = "shuffle"
    gait_model: str = "gaitnn"  # gaitnn (the recurrent GaitNN) or set (GaitSet/GaitBase design, models/set_net.py)
    set_widths: tuple[int, int, int] = (32, 64, 128)  # the set network's per-frame CNN, stage by stage
    set_stem_stride: int = 1  # 2: the first conv strides, 4× cheaper (the CPU preset)
    set_bins: tuple[int, ...] = (1, 2, 4, 8, 16)  # horizontal strips per pyramid level
    set_part_dim: int = 64  # each strip's vector; the identity vector is all strips together
    set_frames: int = 30  # random frames of each training clip (0: all of them, shuffled)
    sampler_p: int = 8
    sampler_k: int = 8
    sampler_buffer: int = 4096  # clips the P × K sampler holds at most
    triplet_margin: float = 0.2
    steps_per_epoch: int = 0  # "pk": steps an epoch; 0: about one pass over the training clips
    max_train_minutes: float = 0.0  # > 0: a stage stops before an epoch that would take it past this
    threads_per_worker: int = 0  # TensorFlow's threads in a worker; 0: its CPUs (fewer CPUs leave Ray Data some)
    pose: StageConfig = field(default_factory=lambda: StageConfig(epochs=12, batch_size=64, learning_rate=2e-3))
    gait: StageConfig = field(default_factory=lambda: StageConfig(epochs=20, batch_size=16, learning_rate=1e-3))
    presence: StageConfig = field(default_factory=lambda: StageConfig(epochs=4, batch_size=64, learning_rate=1e-3))
    # Scaling: Ray Train workers (0: one local process without Ray Train, for debugging).
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    mixed_precision: bool = False  # float16 on GPUs; bfloat16 on CPUs with AMX/AVX512-BF16 (loops.precision_policy)
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
        if self.gait_stride < 1:
            problems.append("gait_stride must be ≥ 1")
        if not 0.0 <= self.margin < 1.0:
            problems.append("margin must be in [0, 1)")
        if self.sampler not in ("shuffle", "pk") or self.gait_model not in ("gaitnn", "set"):
            problems.append("sampler must be shuffle or pk, gait_model gaitnn or set")
        if (self.sampler == "pk" or self.gait_model == "set") and self.first_stage != "silhouette":
            problems.append("the P × K sampler and the set model take silhouettes: first_stage silhouette")
        if self.gait_model == "set" and self.sampler != "pk":
            problems.append("the set model trains with the P × K sampler (sampler pk)")
        if self.sampler == "pk" and (self.sampler_p < 2 or self.sampler_k < 2):
            problems.append("sampler_p and sampler_k must be at least 2")
        if self.branches < 1 or (self.branches > 1 and self.margin <= 0):
            problems.append("branches must be ≥ 1, and more than 1 needs the additive-margin head (margin > 0)")
        if problems:
            raise ValueError("invalid train config: " + "; ".join(problems))
        for name in ("set_widths", "set_bins"):  # lists from JSON or YAML
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (tuples as lists), so that a config read back from JSON compares equal."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

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

    def gait_net_options(self) -> dict[str, Any]:
        """`models.gait.build_gait_net`'s arguments after the feature shape: one place, for every stage that
        builds a GaitNN."""
        return {
            "rnn": self.rnn,
            "rnn_layers": self.rnn_layers,
            "units": self.units,
            "descriptor": self.descriptor,
            "embedding": self.embedding,
            "blocks": self.blocks,
            "branches": self.branches,
            "stride": self.gait_stride,
        }


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
        # `gait_stride: 2` (encoders on 8×8×64 maps) trains 3-4 minutes faster, but in three runs held-out NM and CL
        # rank-1 came out 1-1.5 points under this preset's mean (docs/benchmarks.md), so it is not the default.
        pose=StageConfig(epochs=10, batch_size=64, learning_rate=2e-3),
        gait=StageConfig(epochs=20, batch_size=16, learning_rate=3e-4, patience=5),
        presence=StageConfig(epochs=3, batch_size=64, learning_rate=1e-3, patience=3),
        # One Ray Train worker holding both CPUs of a laptop-sized machine: on 2 CPUs two single-threaded
        # workers and their all-reduce run at half its speed (docs/benchmarks.md). `--workers 2` still works.
        workers=1,
        cpus_per_worker=2,
    ),
    "casia-a": TrainConfig(),
    # Real CASIA-B silhouettes on a laptop-sized machine (2 CPUs): the set model at OpenGait's 64×44 input with
    # half its widths and a stride-2 stem, P 8 × K 8 sequences of 16 random frames per step, bfloat16 where the
    # CPU has it; an epoch is 500 steps and ends with rank-1 on the 12 validation people; training keeps the best
    # epoch and stops after 80 minutes at most (docs/casia-b.md: time, figures).
    "casia-b-cpu": TrainConfig(
        first_stage="silhouette",
        sampler="pk",
        gait_model="set",
        set_widths=(16, 32, 64),
        set_stem_stride=2,
        set_bins=(1, 2, 4, 8),
        set_part_dim=64,
        set_frames=16,
        sampler_p=8,
        sampler_k=8,
        sampler_buffer=8192,
        steps_per_epoch=500,
        gait=StageConfig(epochs=24, learning_rate=1e-3, patience=5, lr_patience=2, lr_factor=0.3, min_lr=1e-5),
        workers=1,
        cpus_per_worker=1,  # the other CPU for Ray Data's reading
        threads_per_worker=2,
        mixed_precision=True,  # bfloat16 where the CPU computes it natively (AMX, AVX512-BF16), else float32
        max_train_minutes=80,
    ),
    # Real CASIA-B on a GPU cluster: OpenGait's sizes (32-64-128 at 64×44, 31 strips), P 8 × K 16 of 30 frames,
    # 4 workers with a GPU each, mixed precision.
    "casia-b": TrainConfig(
        first_stage="silhouette",
        sampler="pk",
        gait_model="set",
        set_widths=(32, 64, 128),
        set_stem_stride=1,
        set_bins=(1, 2, 4, 8, 16),
        set_part_dim=128,
        set_frames=30,
        sampler_p=8,
        sampler_k=16,
        sampler_buffer=16384,
        steps_per_epoch=1000,
        gait=StageConfig(epochs=60, learning_rate=1e-3, patience=8, lr_patience=3, lr_factor=0.3, min_lr=1e-5),
        workers=4,
        cpus_per_worker=4,
        gpus_per_worker=1,
        mixed_precision=True,
    ),
    # CASIA-B-sized synthetic data (configs/casia-b-synthetic.yaml): the pose pipeline at the paper's sizes.
    "casia-b-synthetic": TrainConfig(
        workers=4,
        cpus_per_worker=4,
        gpus_per_worker=1,
        mixed_precision=True,
        pose=StageConfig(epochs=40, batch_size=256, learning_rate=2e-3, patience=6),
        gait=StageConfig(epochs=80, batch_size=128, learning_rate=1e-3, patience=10),
        presence=StageConfig(epochs=10, batch_size=256),
    ),
}


@dataclass(frozen=True)
class TrainPaths:
    shards: str  # made by `gait preprocess`
    out: str  # the model directory (refused if it exists, unless overwritten or reused)
    storage_path: str | None = None  # Ray Train's checkpoints (default: beside OUT); shared storage on a cluster
