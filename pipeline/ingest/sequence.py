"""One sequence → fixed-length clips: decode, find the person, crop, align silhouettes, window.

Plain Python and OpenCV, no Ray: the Ray Data stage (preprocess.py), bulk indexing and the benchmarks' baselines
all call this one implementation. Long sources are handled in chunks, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from pipeline.ingest.clips import FrameItem, Windower, pad_to
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.crop import align_silhouette, crop_region, crop_resize, joints_to_crop
from pipeline.ingest.decode import load_truth, source_fps, source_frames
from pipeline.ingest.errors import IngestError, Outcome
from pipeline.ingest.person import smooth_boxes
from pipeline.ingest.tracks import TrackCutter, TrackResult

CHUNK_BYTES = 192 << 20  # decoded frames held at once, per sequence
TRACKING = ("background", "hog", "onnx")  # detectors that find and track every person: a sequence per track
RECORD_FIELDS = ("sequence_id", "source", "layout", "subject", "condition", "sequence", "view", "split")


class SequenceProcessor:
    """Turns one manifest record into clip batches (dicts of arrays, one row per clip)."""

    def __init__(self, cfg: PreprocessConfig, config_hash: str, with_joints: bool, threads: int = 0) -> None:
        self.cfg = cfg
        self.threads = threads  # decoding threads per source (0: OpenCV's default)
        self.config_hash = config_hash
        self.with_joints = with_joints
        self.size = (cfg.width, cfg.height)

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
        raise ValueError(f"{method!r} finds people by tracking (TrackCutter), not frame by frame")

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
        if method in TRACKING:
            yield from self._tracked(rec, frames, joints_all, outcome)
            return
        windower = Windower(cfg.clip_len, cfg.stride)
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

    def _tracked(
        self, rec: dict[str, Any], frames: Iterator[np.ndarray], joints: np.ndarray | None, outcome: Outcome
    ) -> Iterator[dict[str, np.ndarray]]:
        """Footage: one sequence per person track. An unlabeled source gives every track that passes; a labelled
        one (its layout names the subject) is one person by the dataset's contract: its best track keeps the
        source's sequence id, the others are counted as not chosen."""
        cfg = self.cfg
        cutter = TrackCutter(cfg, source_fps(rec))
        labelled = rec.get("subject") is not None
        kept: list[TrackResult] = []
        for res in cutter.tracks(rec, frames, joints):
            outcome.tracks.append(res.row())
            if res.dropped:
                continue
            if labelled:
                kept.append(res)
                continue
            yield self._batch(rec | {"sequence_id": res.sequence_id}, res.clips, 0, res.track_id)
            outcome.clips += len(res.clips)
            outcome.padded += res.padded
        outcome.frames = cutter.frames_seen
        if kept:
            best = max(kept, key=lambda r: (r.frames, -r.first_frame))
            for row in outcome.tracks:
                if row["dropped"] is None and row["sequence_id"] != best.sequence_id:
                    row["dropped"], row["reason"] = "not_chosen", "a labelled source is one person: a longer track"
                elif row["sequence_id"] == best.sequence_id:
                    row["sequence_id"] = rec["sequence_id"]
            yield self._batch(rec, best.clips, 0, best.track_id)
            outcome.clips, outcome.padded = len(best.clips), best.padded
        if cutter.frames_seen < cfg.min_frames:
            raise IngestError(
                "window", "TooShort", f"{cutter.frames_seen} frame(s), fewer than min_frames={cfg.min_frames}"
            )
        if outcome.clips == 0:
            short = sum(r["dropped"] == "short" for r in outcome.tracks)
            low = [r for r in outcome.tracks if r["dropped"] == "low_quality"]
            detail = f"; e.g. track {low[0]['track_id']}: {low[0]['reason']}" if low else ""
            raise IngestError(
                "detect",
                "NoPersonFound",
                f"no person was found walking in its {cutter.frames_seen} frames: {len(outcome.tracks)} track(s), "
                f"{short} shorter than min_frames={cfg.min_frames}, {len(low)} of low quality{detail}",
            )

    def _batch(
        self,
        rec: dict[str, Any],
        clips: list[tuple[int, list[FrameItem]]],
        first: int,
        track_id: int | None = None,
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
        out["frame_index"] = np.stack([pad_to(np.array([it.index for it in items], np.int32), T) for _, items in clips])
        if cfg.silhouettes:
            out["silhouettes"] = np.stack([pad_to(np.stack([it.silhouette for it in items]), T) for _, items in clips])
        if self.with_joints:
            out["joints"] = np.stack([pad_to(np.stack([it.joints for it in items]), T) for _, items in clips])
        out["config_hash"] = np.array([self.config_hash] * n, dtype=object)
        out["track_id"] = np.array([track_id] * n, dtype=object)
        return out
