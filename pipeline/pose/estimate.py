"""Joints of the walking person in frames, with the pose network of a model directory.

HumanPoseNN only ever saw crops made by preprocessing, so the person is found, smoothed and cropped here with
the same code (pipeline.ingest.person and .crop) and settings; the decoded joints are then mapped from crop
pixels back to frame pixels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.common.model_dir import local_model
from pipeline.ingest.crop import crop_region, crop_resize
from pipeline.ingest.person import BackgroundSubtractor, HogPeople, detection_scale, shrink, smooth_boxes

DETECTORS = ("auto", "background", "hog", "none")
MIN_BACKGROUND_FRAMES = 8  # a temporal median of fewer frames still holds the person
DEFAULT_MARGIN = 0.1  # PreprocessConfig's default
DEFAULT_SMOOTH = 5
BATCH = 64


@dataclass
class PoseResult:
    """One frame: the person's box (frame pixels, after smoothing; None when nobody was found and the whole
    frame was used) and the joints [16, 3]: x, y in frame pixels and the heatmap peak as a confidence."""

    box: np.ndarray | None
    joints: np.ndarray


def joints_from_crop(joints: np.ndarray, region: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Inverse of `pipeline.ingest.crop.joints_to_crop`: joints [..., 3] in crop pixels of a crop of `region`
    resized to `size` (w, h) → frame pixels. The third column (confidence) is kept as it is."""
    x0, y0, x1, y1 = (float(v) for v in region)
    sx, sy = size[0] / (x1 - x0), size[1] / (y1 - y0)
    out = np.asarray(joints, np.float32).copy()
    out[..., 0] = (out[..., 0] + 0.5) / sx - 0.5 + x0
    out[..., 1] = (out[..., 1] + 0.5) / sy - 0.5 + y0
    return out


def whole_frame_region(frame_size: tuple[int, int], aspect: float) -> np.ndarray:
    """The smallest region of the given aspect that holds the whole frame (w, h), centred: black bars pad it."""
    w, h = frame_size
    tall = max(float(h), w / aspect)
    cy = h / 2
    return crop_region(np.array([0.0, cy - tall / 2, float(w), cy + tall / 2]), aspect, 0.0)


def read_model_config(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} is not a model directory: {path.name} is missing")
    return json.loads(path.read_text())


def _setting(config: dict[str, Any], key: str, default: Any) -> Any:
    """A preprocessing setting from config.json (top level or a `preprocess` section), else the default."""
    section = config.get("preprocess")
    if isinstance(section, dict) and section.get(key) is not None:
        return section[key]
    return config[key] if config.get(key) is not None else default


class PoseEstimator:
    """The pose network of a model directory, loaded once, with the crop settings it was trained with."""

    def __init__(self, model_dir: str | Path, detector: str = "auto") -> None:
        from pipeline.models.io import load_model

        if detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {detector!r}")

        model_dir = local_model(model_dir)  # a URI (s3://, gs://) through the local cache
        config = read_model_config(model_dir)
        pose_file = model_dir / "pose" / "model.keras"
        if not pose_file.is_file():
            raise FileNotFoundError(f"{model_dir} has no pose network ({pose_file} is missing)")
        if len(config.get("input_size") or ()) != 2:
            raise ValueError(f"{model_dir}/config.json has no input_size [width, height]")
        self.size: tuple[int, int] = tuple(int(v) for v in config["input_size"])  # (width, height)
        self.margin = float(_setting(config, "margin", DEFAULT_MARGIN))
        self.smooth = int(_setting(config, "smooth", DEFAULT_SMOOTH))
        self.detector = detector
        self.model = load_model(pose_file)
        expected = (self.size[1], self.size[0], 3)
        if tuple(self.model.input_shape[1:]) != expected:
            raise ValueError(f"{pose_file} takes {self.model.input_shape[1:]}, config.json says {expected}")
        self._hog: HogPeople | None = None
        self._subtractor: BackgroundSubtractor | None = None  # kept, so a video can come in chunks

    # -- finding the person -----------------------------------------------------------------------------------
    def _has_background(self, frame: np.ndarray) -> bool:
        """Whether an earlier chunk of the same video left a background model (a short last chunk reuses it)."""
        if self._subtractor is None:
            return False
        small = shrink(frame, detection_scale(frame.shape[1]))
        return self._subtractor.background.shape[:2] == small.shape[:2]

    def _background_boxes(self, frames: list[np.ndarray]) -> np.ndarray:
        scale = detection_scale(frames[0].shape[1])
        small = [shrink(f, scale) for f in frames]
        if len(frames) >= MIN_BACKGROUND_FRAMES or self._subtractor is None:
            self._subtractor = BackgroundSubtractor.from_frames(small)
        subtractor = self._subtractor
        boxes = np.full((len(frames), 4), np.nan, np.float32)
        for i, f in enumerate(small):
            box, _ = subtractor.person(f)
            if box is not None:
                boxes[i] = box / scale
        return boxes

    def _hog_boxes(self, frames: list[np.ndarray]) -> np.ndarray:
        self._hog = self._hog or HogPeople()
        scale = detection_scale(frames[0].shape[1])
        boxes = np.full((len(frames), 4), np.nan, np.float32)
        step = 2 if len(frames) >= MIN_BACKGROUND_FRAMES else 1  # as preprocessing: smoothing fills the rest
        for i in range(0, len(frames), step):
            box = self._hog.person(shrink(frames[i], scale))
            if box is not None:
                boxes[i] = box / scale
        return boxes

    def find_person(self, frames: list[np.ndarray]) -> np.ndarray:
        """Boxes [n, 4] in frame pixels, smoothed over time; all NaN when nobody was found (or detector none).
        Consecutive calls may pass consecutive chunks of one video."""
        n = len(frames)
        boxes = np.full((n, 4), np.nan, np.float32)
        if self.detector == "none" or n == 0:
            return boxes
        video = n >= MIN_BACKGROUND_FRAMES or self._has_background(frames[0])
        if self.detector == "background" and not video:
            raise ValueError(
                f"background subtraction needs a video of at least {MIN_BACKGROUND_FRAMES} frames, got {n}; "
                "use --detector hog or auto"
            )
        if self.detector in ("auto", "background") and video:
            boxes = self._background_boxes(frames)
        if self.detector == "hog" or (self.detector == "auto" and np.isnan(boxes).all()):
            boxes = self._hog_boxes(frames)
        return smooth_boxes(boxes, self.smooth)

    # -- the pose ---------------------------------------------------------------------------------------------
    def regions(self, frames: list[np.ndarray], boxes: np.ndarray) -> list[np.ndarray]:
        aspect = self.size[0] / self.size[1]
        out = []
        for f, box in zip(frames, boxes, strict=True):
            if np.isnan(box).any():
                out.append(whole_frame_region((f.shape[1], f.shape[0]), aspect))
            else:
                out.append(crop_region(box, aspect, self.margin))
        return out

    def estimate(self, frames_bgr: list[np.ndarray]) -> list[PoseResult]:
        """One PoseResult per frame (BGR, as OpenCV decodes them)."""
        from pipeline.models.heatmaps import heatmaps_to_joints

        if not frames_bgr:
            return []
        boxes = self.find_person(frames_bgr)
        regions = self.regions(frames_bgr, boxes)
        results = []
        for start in range(0, len(frames_bgr), BATCH):
            part = range(start, min(start + BATCH, len(frames_bgr)))
            crops = np.stack(
                [cv2.cvtColor(crop_resize(frames_bgr[i], regions[i], self.size), cv2.COLOR_BGR2RGB) for i in part]
            )
            maps = self.model(crops.astype(np.float32) / 255.0, training=False)["heatmaps"]
            joints = heatmaps_to_joints(np.asarray(maps), self.size)
            for k, i in enumerate(part):
                box = None if np.isnan(boxes[i]).any() else boxes[i].copy()
                results.append(PoseResult(box, joints_from_crop(joints[k], regions[i], self.size)))
        return results


def estimate_pose(frames_bgr: list[np.ndarray], model_dir: Path, detector: str = "auto") -> list[PoseResult]:
    """Joints of the person in each frame (a video's frames, or one image) in frame pixels."""
    return PoseEstimator(model_dir, detector).estimate(frames_bgr)
