"""Preprocessing settings: crop size, clip length and stride, person finding, limits, split protocol."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

DETECTORS = ("auto", "truth", "background", "hog", "onnx")


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that decides the shards' content; its hash is stored in every row (`config_hash`)."""

    width: int = 64  # crop size after resizing
    height: int = 64
    clip_len: int = 24  # T: frames per clip (fixed, as Ray Train's to_tf needs)
    stride: int = 12  # S: frames between clip starts
    min_frames: int = 8  # shorter sequences are rejected; from here up to T they are padded (last frame repeated)
    max_pixels: int = 3840 * 2160  # larger frames are refused before decoding
    # auto: ground truth when the dataset has it, silhouettes when the frames are silhouettes, else background
    # subtraction. background / hog / onnx find and track every person (pipeline/track): one sequence per track.
    detector: str = "auto"
    onnx_model: str = ""  # detector onnx: a YOLO-family ONNX export (a local path; never downloaded)
    track_lost_seconds: float = 1.5  # a track unseen this long has ended (occlusions shorter keep their id)
    track_appearance: bool = True  # where people crossed, ids are set right by clothing colour (IdentityKeeper)
    min_track_fill: float = 0.3  # tracks whose boxes are on average less foreground than this are not a person
    max_track_aspect_cv: float = 0.5  # … or whose box height/width varies more than this over the track
    min_track_detected: float = 0.5  # … or that were found in fewer of the frames of their span
    margin: float = 0.1  # crop margin above and below the person, as a share of the person's height
    smooth: int = 5  # frames in the moving average that smooths the person's box over time
    silhouettes: bool = True  # add aligned silhouettes (from the dataset, else background subtraction)
    protocol: str = "auto"  # split protocol: auto, casia-b, casia-a, synthetic, subject
    split_seed: int = 0
    train_fraction: float = 0.6
    val_subjects: int = 0  # casia-b protocol: the last N training subjects validate (whole people), none train
    rows_per_file: int = 256  # clips per Parquet file (at most; a task's last file may hold fewer)
    sequences_per_task: int = 0  # sequences a Ray task decodes; 0: about four tasks per CPU, at most 32 each
    stream_seconds: float = 10.0  # how long a camera or network stream is read
    max_frames: int = 0  # per source; 0 = no limit

    def __post_init__(self) -> None:
        problems = []
        if self.width < 16 or self.height < 16:
            problems.append("crop size must be at least 16x16")
        if self.clip_len < 1 or self.stride < 1:
            problems.append("clip_len and stride must be positive")
        if not 1 <= self.min_frames <= self.clip_len:
            problems.append("min_frames must be between 1 and clip_len")
        if self.detector not in DETECTORS:
            problems.append(f"detector must be one of {DETECTORS}")
        if self.detector == "onnx" and not self.onnx_model:
            problems.append("detector onnx needs onnx_model: the path of a YOLO-family ONNX file")
        if self.track_lost_seconds <= 0 or not 0 <= self.min_track_fill <= 1 or not 0 <= self.min_track_detected <= 1:
            problems.append("track_lost_seconds must be positive, min_track_fill and min_track_detected in [0, 1]")
        if min(self.max_pixels, self.smooth, self.rows_per_file) < 1 or self.sequences_per_task < 0:
            problems.append("max_pixels, smooth and rows_per_file must be positive, sequences_per_task not negative")
        if self.val_subjects < 0:
            problems.append("val_subjects must not be negative")
        if not 0.0 < self.train_fraction < 1.0:
            problems.append("train_fraction must be between 0 and 1")
        if problems:
            raise ValueError("invalid preprocess config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreprocessConfig:
        return cls(**d)

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def with_changes(self, **changes: Any) -> PreprocessConfig:
        return replace(self, **changes)


PRESETS: dict[str, PreprocessConfig] = {
    # The demo's 48 synthetic people: 36 train (the network needs many people to learn what sets a new one
    # apart), 12 are held out for evaluation.
    "demo": PreprocessConfig(train_fraction=0.75),
    "casia-a": PreprocessConfig(clip_len=30, stride=15),
    # Real CASIA-B silhouettes (OpenGait's pickles or the PNG tree): OpenGait's 64×44 crop, clips of 30 frames
    # every 15, and 063–074 held out of training whole as validation people (docs/casia-b.md).
    "casia-b": PreprocessConfig(width=44, height=64, clip_len=30, stride=15, val_subjects=12),
    # CASIA-B-sized synthetic data (`gait synth --preset casia-b`, configs/casia-b-synthetic.yaml).
    "casia-b-synthetic": PreprocessConfig(clip_len=30, stride=15),
}


@dataclass(frozen=True)
class PreprocessPaths:
    src: str  # a dataset directory or URI, a video file, a camera index or a stream URL
    out: str  # the shard directory (refused if it exists, unless overwritten or reused)
    layout: str | None = None  # force a dataset layout instead of detecting it
