"""One sequence → fixed-length clips: decode, find the person, crop, align silhouettes, window.

Plain Python and OpenCV, no Ray: the Ray Data stage (preprocess.py), bulk indexing and the benchmarks' baselines
all call this one implementation. Long sources are handled in chunks, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from pipeline.ingest.clips import pad_to
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.crop import align_silhouette, crop_region, crop_resize, joints_to_crop
from pipeline.ingest.decode import load_truth, source_frames
from pipeline.ingest.errors import IngestError, Outcome
from pipeline.ingest.person import BackgroundSubtractor, HogPeople, detection_scale, shrink, smooth_boxes

CHUNK_BYTES = 192 << 20  # decoded frames held at once, per sequence
RECORD_FIELDS = ("sequence_id", "source", "layout", "subject", "condition", "sequence", "view", "split")


@dataclass
class FrameItem:
    index: int  # frame number in the source
    frame: np.ndarray  # RGB crop [H, W, 3]
    box: np.ndarray  # person box in source pixels [4]
    detected: bool
    silhouette: np.ndarray | None
    joints: np.ndarray | None


class _Windower:
    """Emits clips of T frames every S frames as frames arrive, then a last one ending at the last frame."""

    def __init__(self, length: int, stride: int) -> None:
        self.length, self.stride = length, stride
        self.buf: list[FrameItem] = []
        self.offset = 0  # global index of buf[0]
        self.next_start = 0
        self.last_start = -1

    def push(self, item: FrameItem) -> list[tuple[int, list[FrameItem]]]:
        self.buf.append(item)
        out = []
        while self.next_start + self.length <= self.offset + len(self.buf):
            i = self.next_start - self.offset
            out.append((self.next_start, self.buf[i : i + self.length]))
            self.last_start = self.next_start
            self.next_start += self.stride
        # Keep what a later clip can still need: from the next start, and always the last T frames.
        keep_from = min(self.next_start, self.offset + len(self.buf) - self.length) - self.offset
        if keep_from > 0:
            del self.buf[:keep_from]
            self.offset += keep_from
        return out

    def finish(self, total: int, min_frames: int) -> tuple[list[tuple[int, list[FrameItem]]], int]:
        """Final clips and how many frames were padded."""
        if total == 0:
            return [], 0
        if total < self.length:
            if total < min_frames:
                raise IngestError(
                    "window", "TooShort", f"{total} frame(s) with a person, fewer than min_frames={min_frames}"
                )
            return [(0, self.buf)], self.length - total
        if self.last_start + self.length < total:
            start = total - self.length
            return [(start, self.buf[start - self.offset : start - self.offset + self.length])], 0
        return [], 0


class SequenceProcessor:
    """Turns one manifest record into clip batches (dicts of arrays, one row per clip)."""

    def __init__(self, cfg: PreprocessConfig, config_hash: str, with_joints: bool, threads: int = 0) -> None:
        self.cfg = cfg
        self.threads = threads  # decoding threads per source (0: OpenCV's default)
        self.config_hash = config_hash
        self.with_joints = with_joints
        self.size = (cfg.width, cfg.height)
        self._hog: HogPeople | None = None

    # -- person finding ---------------------------------------------------------------------------------------
    def _method(self, rec: dict[str, Any]) -> str:
        d = self.cfg.detector
        if d == "truth" and not rec.get("annotation"):
            raise IngestError(
                "detect", "NoGroundTruth", "detector 'truth' needs ground-truth boxes; this input has none"
            )
        if d != "auto":
            return d
        if rec.get("annotation"):
            return "truth"
        if rec.get("modality") == "silhouette":
            return "silhouette"
        return "background"

    def _background(self, rec: dict[str, Any], chunk: list[np.ndarray], scale: float) -> BackgroundSubtractor:
        plate = rec.get("background")
        if plate:
            try:
                frames = [
                    shrink(f, scale) for f in source_frames({"kind": "video", "source": plate}, self.cfg.max_pixels, 30)
                ]
                if frames and frames[0].shape == shrink(chunk[0], scale).shape:
                    return BackgroundSubtractor.from_frames(frames)
            except IngestError:
                pass  # a bad plate: fall back to the sequence's own median
        return BackgroundSubtractor.from_frames([shrink(f, scale) for f in chunk])

    def _detect(self, method: str, chunk: list[np.ndarray], start: int, truth: dict | None, state: dict) -> tuple:
        """Boxes [n, 4] (NaN where not found) and masks (list of arrays or None) for a chunk."""
        n = len(chunk)
        boxes = np.full((n, 4), np.nan, np.float32)
        masks: list[np.ndarray | None] = [None] * n
        if method == "truth":
            tb = truth["boxes"][start : start + n]
            if len(tb) < n:
                raise IngestError(
                    "detect", "TruthMismatch", f"ground truth has {len(truth['boxes'])} frames, video more"
                )
            boxes[:] = tb
            masks = list(truth["silhouettes"][start : start + n].astype(bool))
            return boxes, masks
        if method == "silhouette":
            for i, f in enumerate(chunk):
                m = (cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) > 127).astype(np.uint8) * 255
                ys, xs = np.nonzero(m)
                if len(xs) >= 20:
                    boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
                masks[i] = m
            return boxes, masks
        scale = detection_scale(chunk[0].shape[1])
        if method in ("background", "hog") and ("bg" in state or self.cfg.silhouettes or method == "background"):
            if "bg" not in state:
                state["bg"] = self._background(state["rec"], chunk, scale)
            for i, f in enumerate(chunk):
                box, m = state["bg"].person(shrink(f, scale))
                masks[i] = m
                if method == "background" and box is not None:
                    boxes[i] = box / scale
        if method == "hog":
            self._hog = self._hog or HogPeople()
            for i in range(0, n, 2):
                box = self._hog.person(shrink(chunk[i], scale))
                if box is not None:
                    boxes[i] = box / scale
        state["scale"] = scale
        return boxes, masks

    def _silhouette(self, mask: np.ndarray | None, box: np.ndarray, scale: float) -> np.ndarray:
        """The aligned silhouette, from the part of the mask around the person (a quarter of their height
        around the box): the rest of the frame holds nothing of them and would only cost time."""
        if mask is None:
            return np.zeros(self.size[::-1], np.uint8)
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        pad = 0.25 * (y1 - y0) + 2
        h, w = mask.shape[:2]
        xa, ya = max(0, int(x0 - pad)), max(0, int(y0 - pad))
        xb, yb = min(w, int(np.ceil(x1 + pad))), min(h, int(np.ceil(y1 + pad)))
        if xb <= xa or yb <= ya:
            return np.zeros(self.size[::-1], np.uint8)
        return align_silhouette(mask[ya:yb, xa:xb], self.size)

    # -- the whole sequence -----------------------------------------------------------------------------------
    def clips(self, rec: dict[str, Any], outcome: Outcome) -> Iterator[dict[str, np.ndarray]]:
        """Yield clip batches; fill `outcome`. Raises IngestError for a bad input."""
        cfg = self.cfg
        method = self._method(rec)
        truth = (
            load_truth(rec["annotation"]) if rec.get("annotation") and (method == "truth" or self.with_joints) else None
        )
        joints_all = truth["joints"] if (truth is not None and self.with_joints) else None
        frames = source_frames(rec, cfg.max_pixels, cfg.max_frames, cfg.stream_seconds, self.threads)
        windower = _Windower(cfg.clip_len, cfg.stride)
        state: dict[str, Any] = {"rec": rec}
        total = 0  # frames seen
        with_person = 0
        clip_index = 0
        chunk: list[np.ndarray] = []
        chunk_n = 0

        def flush(chunk: list[np.ndarray], start: int) -> list[tuple[int, list[FrameItem]]]:
            nonlocal with_person
            boxes, masks = self._detect(method, chunk, start, truth, state)
            found = ~np.isnan(boxes).any(axis=1)
            if not found.any():
                return []
            with_person += len(chunk)
            smooth = smooth_boxes(boxes, cfg.smooth)
            ready = []
            for i, f in enumerate(chunk):
                region = crop_region(smooth[i], cfg.width / cfg.height, cfg.margin)
                crop = cv2.cvtColor(crop_resize(f, region, self.size), cv2.COLOR_BGR2RGB)
                sil = None
                if cfg.silhouettes:
                    sil = self._silhouette(masks[i], boxes[i] if found[i] else smooth[i], state.get("scale", 1.0))
                joints = None
                if joints_all is not None:
                    joints = joints_to_crop(joints_all[start + i], region, self.size)
                ready += windower.push(FrameItem(start + i, crop, smooth[i], bool(found[i]), sil, joints))
            return ready

        for frame in frames:
            if not chunk:
                chunk_n = max(2 * cfg.clip_len, CHUNK_BYTES // max(1, frame.nbytes))
            chunk.append(frame)
            total += 1
            if len(chunk) >= chunk_n:
                batch = flush(chunk, total - len(chunk))
                chunk = []
                if batch:
                    yield self._batch(rec, batch, clip_index)
                    clip_index += len(batch)
        if total < cfg.min_frames:  # before person finding: a background model of one frame finds nobody
            raise IngestError("window", "TooShort", f"{total} frame(s), fewer than min_frames={cfg.min_frames}")
        if chunk:
            batch = flush(chunk, total - len(chunk))
            if batch:
                yield self._batch(rec, batch, clip_index)
                clip_index += len(batch)
        if with_person == 0:
            raise IngestError("detect", "NoPersonFound", f"no person was found in any of its {total} frames")
        tail, padded = windower.finish(with_person, cfg.min_frames)
        if tail:
            yield self._batch(rec, tail, clip_index)
            clip_index += len(tail)
        outcome.clips = clip_index
        outcome.frames = total
        outcome.padded = padded

    def _batch(
        self, rec: dict[str, Any], clips: list[tuple[int, list[FrameItem]]], first: int
    ) -> dict[str, np.ndarray]:
        cfg, T = self.cfg, self.cfg.clip_len
        n = len(clips)
        out: dict[str, Any] = {k: np.array([rec.get(k)] * n, dtype=object) for k in RECORD_FIELDS}
        out["clip_index"] = np.arange(first, first + n, dtype=np.int32)
        out["frame_start"] = np.array([items[0].index for _, items in clips], np.int32)
        out["num_frames"] = np.array([min(T, len(items)) for _, items in clips], np.int32)
        out["frames"] = np.stack([pad_to(np.stack([it.frame for it in items]), T) for _, items in clips])
        out["boxes"] = np.stack([pad_to(np.stack([it.box for it in items]), T) for _, items in clips])
        out["detected"] = np.stack([pad_to(np.array([it.detected for it in items]), T) for _, items in clips])
        if cfg.silhouettes:
            out["silhouettes"] = np.stack([pad_to(np.stack([it.silhouette for it in items]), T) for _, items in clips])
        if self.with_joints:
            out["joints"] = np.stack([pad_to(np.stack([it.joints for it in items]), T) for _, items in clips])
        out["config_hash"] = np.array([self.config_hash] * n, dtype=object)
        return out
