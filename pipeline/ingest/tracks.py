"""Footage → one sequence per person track: detect and track (pipeline/track), crop and align each track's
frames as they stream past, score the track's quality, then cut its clips.

A file with four walkers gives four sequences; a track shorter than `min_frames` is dropped and counted; a
track whose silhouettes or boxes say it is not one walking person (mask fill, box-aspect stability, share of
its span in which it was detected) becomes an error row with its reason. Frames are never held: each track
keeps only its own small crops and silhouettes, and a track longer than `max_track_frames` is closed as a
segment of its own, so memory is bounded whatever the footage's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from pipeline.ingest.clips import FrameItem, Windower
from pipeline.ingest.config import PreprocessConfig
from pipeline.ingest.crop import align_silhouette, crop_region, crop_resize, joints_to_crop
from pipeline.ingest.errors import IngestError
from pipeline.ingest.manifest import sequence_id as hash_id
from pipeline.track.detection import CameraMotionError, touches_edge
from pipeline.track.detectors import make_detector
from pipeline.track.tracker import PersonTracker, TrackedBox, tracked_frames

MAX_TRACK_FRAMES = 1500  # a longer track is closed as a segment (about a minute at 25 fps; ~25 MB of crops)
BOX_EMA = 0.5  # weight of the newest box in the crop region's running average (ByteTrack's boxes jitter)


@dataclass
class TrackQuality:
    """Why a track is (not) one walking person."""

    fill: float  # mean share of the box's pixels that are foreground (NaN without a foreground mask)
    aspect_cv: float  # coefficient of variation of the box's height / width over the track
    detected: float  # share of the frames of its span in which the track was found
    inside: float = 0.0  # share of its frames in which its box lay within a longer track's (a part of that person)

    def problems(self, cfg: PreprocessConfig) -> list[str]:
        out = []
        if self.inside > 0.5:
            out.append(f"a part of another person's box in {self.inside:.0%} of its frames (a limb, a shadow)")
        if not np.isnan(self.fill) and self.fill < cfg.min_track_fill:
            out.append(f"mask fill {self.fill:.2f} < {cfg.min_track_fill} (not a person's silhouette)")
        if self.aspect_cv > cfg.max_track_aspect_cv:
            out.append(f"box aspect varies by {self.aspect_cv:.2f} > {cfg.max_track_aspect_cv} (not one person)")
        if self.detected < cfg.min_track_detected:
            out.append(f"found in {self.detected:.0%} of its frames < {cfg.min_track_detected:.0%}")
        return out


@dataclass
class PersonTrack:
    """One person's track (or segment of it) as it is cut: its frames' crops, silhouettes and boxes."""

    track_id: int
    segment: int = 0
    items: list[FrameItem] = field(default_factory=list)
    fills: list[float] = field(default_factory=list)
    aspects: list[float] = field(default_factory=list)
    inside: int = 0  # frames in which its box lay within a longer track's box
    region: np.ndarray | None = None  # running average of the crop region

    @property
    def first(self) -> int:
        return self.items[0].index

    @property
    def last(self) -> int:
        return self.items[-1].index

    def quality(self) -> TrackQuality:
        fills = [f for f in self.fills if not np.isnan(f)]
        asp = np.asarray(self.aspects, np.float64)
        cv = float(asp.std() / max(asp.mean(), 1e-6)) if len(asp) else 0.0
        return TrackQuality(
            float(np.mean(fills)) if fills else float("nan"),
            cv,
            len(self.items) / (self.last - self.first + 1),
            self.inside / len(self.items),
        )

    def boxes(self) -> np.ndarray:
        return np.stack([it.box for it in self.items]).astype(np.float32)


@dataclass
class TrackResult:
    """What became of one track: its sequence id, span, quality, and clips or the reason it was dropped."""

    sequence_id: str
    track_id: int
    segment: int
    first_frame: int
    last_frame: int
    frames: int
    quality: TrackQuality
    clips: list[tuple[int, list[FrameItem]]]
    padded: int = 0
    dropped: str | None = None  # "short" | "low_quality" | "not_chosen"
    reason: str | None = None

    def row(self) -> dict[str, Any]:
        """The track's row in tracks.parquet / the error table (no pixels)."""
        return {
            "sequence_id": self.sequence_id,
            "track_id": self.track_id,
            "segment": self.segment,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "frames": self.frames,
            "clips": len(self.clips),
            **{f"quality_{k}": v for k, v in asdict(self.quality).items()},
            "dropped": self.dropped,
            "reason": self.reason,
        }


def _within_longer(boxes: list[TrackedBox], live: dict[int, PersonTrack], share: float = 0.7) -> list[bool]:
    """For each box of a frame: is it a part of a longer track's person (a split-off limb, a shadow, a bag)?
    That is: most of it lies within that person's box, or it is much smaller and touches it (within 15% of
    their height). A person crossing behind another is inside only for a few frames, and two people walking
    side by side are of a size: neither is a part of the other."""
    out = []
    for a in boxes:
        area = max(1e-6, float((a.box[2] - a.box[0]) * (a.box[3] - a.box[1])))
        part = False
        for b in boxes:
            if b.track_id == a.track_id or len(live[b.track_id].items) <= len(live[a.track_id].items):
                continue
            bw, bh = float(b.box[2] - b.box[0]), float(b.box[3] - b.box[1])
            pad = 0.15 * bh if area < 0.5 * bw * bh else 0.0
            ix = max(0.0, min(a.box[2], b.box[2] + pad) - max(a.box[0], b.box[0] - pad))
            iy = max(0.0, min(a.box[3], b.box[3] + pad) - max(a.box[1], b.box[1] - pad))
            part = part or ix * iy / area > (0.5 if pad else share)
        out.append(part)
    return out


def _handed_on(ended: PersonTrack, live: dict[int, PersonTrack], within: int, size: tuple[int, int]) -> bool:
    """A track that ended where a newer one had just begun, over the same person's box, was one person whose
    blob split and rejoined under a new id (or who was lost for a few frames where they stood): its frames go
    to that track (under the older id), and True. Not when one left the view and the other came into it there,
    never seen together: that is someone coming in as often as not, and a person who comes back is the
    IdentityKeeper's to judge by their colour. "The same place" is in the scene, not on the screen: a panning
    camera brings someone else to where the lost one was drawn a second ago. `size`: the frame's (width,
    height)."""

    last = ended.items[-1]
    for t in sorted(live.values(), key=lambda t: t.first):
        if not (ended.first < t.first <= last.index + within and t.last > last.index):
            continue  # it must begin after the ended one and go on beyond it
        near = next(it for it in t.items if it.index > last.index)  # where the ended one stops
        if near.index - last.index > within or _overlap(near.scene_box(), last.scene_box()) < 0.6:
            continue
        # While both were seen, one lay over the other (a blob and its fragment), not beside it (two people);
        # never seen together, one must not have left at the edge where the other came in.
        mine = {it.index: it.box for it in ended.items}
        both = [_fragment_pair(it.box, mine[it.index]) for it in t.items if it.index in mine]
        came_in = not both and touches_edge(last.box, size) and touches_edge(t.items[0].box, size)
        if (both and np.mean(both) < 0.8) or came_in:
            continue
        keep = [k for k, it in enumerate(ended.items) if it.index < t.first]
        t.items = [ended.items[k] for k in keep] + t.items
        t.fills = [ended.fills[k] for k in keep] + t.fills
        t.aspects = [ended.aspects[k] for k in keep] + t.aspects
        t.inside += ended.inside
        t.track_id = ended.track_id
        return True
    return False


def _fragment_pair(a: np.ndarray, b: np.ndarray) -> bool:
    """One box lies over the other, or is much smaller and touches it (within 15% of the larger's height)."""
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    small, large = (a, b) if area_a <= area_b else (b, a)
    if _overlap(a, b) >= 0.5:
        return True
    if min(area_a, area_b) >= 0.5 * max(area_a, area_b):
        return False  # of a size: two people side by side
    pad = 0.15 * (large[3] - large[1])
    grown = np.array([large[0] - pad, large[1] - pad, large[2] + pad, large[3] + pad])
    return _overlap(small, grown) >= 0.5


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box's area: 1 when one box holds the other (a fragment and its person)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(ix * iy / smaller) if smaller > 0 else 0.0


def track_sequence_id(input_id: str, track_id: int, segment: int) -> str:
    """A track's sequence id: derived from its source's id and the track (and segment), stable across runs."""
    return hash_id(f"{input_id}/track-{track_id}" + (f"/segment-{segment}" if segment else ""))


class TrackCutter:
    """One footage source → finished tracks, as their frames stream past."""

    def __init__(self, cfg: PreprocessConfig, fps: float) -> None:
        self.cfg = cfg
        self.size = (cfg.width, cfg.height)
        self.fps = fps if fps > 0 else 25.0
        self.lost_frames = round(cfg.track_lost_seconds * self.fps) + 1
        self.used: set[str] = set()  # sequence ids given in the current source

    def tracks(
        self, rec: dict[str, Any], frames: Iterable[np.ndarray], joints: np.ndarray | None = None
    ) -> Iterator[TrackResult]:
        """Every track of the source, each once it has ended (or at the source's end)."""
        cfg = self.cfg
        name = "background" if cfg.detector == "auto" else cfg.detector
        detector = make_detector(name, **({"model": cfg.onnx_model} if name == "onnx" else {}))
        # Silhouettes need a foreground mask: the detector's own, else a background model's beside it.
        masker = make_detector("background") if cfg.silhouettes and name != "background" else None
        tracker = PersonTracker(self.fps, cfg.track_lost_seconds)
        live: dict[int, PersonTrack] = {}
        last_seen: dict[int, int] = {}
        segments: dict[int, int] = {}
        self.frames_seen = 0
        self.used.clear()
        size = (0, 0)  # the frames' (width, height)
        try:
            for i, frame, dets, boxes in tracked_frames(
                frames, detector, tracker, masker=masker, appearance=cfg.track_appearance
            ):
                self.frames_seen = i + 1
                size = (frame.shape[1], frame.shape[0])
                for tb in boxes:
                    if tb.track_id not in live:
                        live[tb.track_id] = PersonTrack(tb.track_id, segments.get(tb.track_id, 0))
                for tb, inside in zip(boxes, _within_longer(boxes, live), strict=True):
                    t = live[tb.track_id]
                    t.inside += inside
                    self._add(t, i, frame, dets.mask, tb, joints)
                    last_seen[tb.track_id] = i
                    if len(t.items) >= MAX_TRACK_FRAMES:
                        segments[tb.track_id] = t.segment + 1
                        yield self._finish(rec, live.pop(tb.track_id))
                for tid in [k for k, seen in last_seen.items() if i - seen > self.lost_frames and k in live]:
                    ended = live.pop(tid)
                    if not _handed_on(ended, live, self.lost_frames, size):
                        yield self._finish(rec, ended)
        except CameraMotionError as exc:
            raise IngestError("detect", "CameraMotion", str(exc)) from exc
        for tid in sorted(live, key=lambda k: live[k].first):
            ended = live.pop(tid)
            if not _handed_on(ended, live, self.lost_frames, size):
                yield self._finish(rec, ended)

    def _add(
        self,
        t: PersonTrack,
        i: int,
        frame: np.ndarray,
        mask: np.ndarray | None,
        tb: TrackedBox,
        joints: np.ndarray | None,
    ) -> None:
        cfg = self.cfg
        box = np.clip(tb.box, [0, 0, 0, 0], [frame.shape[1], frame.shape[0]] * 2).astype(np.float32)
        region = crop_region(box, cfg.width / cfg.height, cfg.margin)
        t.region = region if t.region is None else (1 - BOX_EMA) * t.region + BOX_EMA * region
        crop = cv2.cvtColor(crop_resize(frame, t.region, self.size), cv2.COLOR_BGR2RGB)
        sil, fill = None, float("nan")
        if mask is not None:
            s = mask.shape[1] / frame.shape[1]
            x0, y0, x1, y1 = (int(round(v * s)) for v in box)
            part = mask[max(0, y0) : max(y0 + 1, y1), max(0, x0) : max(x0 + 1, x1)]
            fill = float((part > 127).mean()) if part.size else 0.0
            if cfg.silhouettes:
                sil = align_silhouette(part, self.size)
        elif cfg.silhouettes:
            sil = np.zeros(self.size[::-1], np.uint8)
        w, h = box[2] - box[0], box[3] - box[1]
        t.aspects.append(float(h / max(w, 1.0)))
        t.fills.append(fill)
        j = joints_to_crop(joints[i], t.region, self.size) if joints is not None and i < len(joints) else None
        t.items.append(FrameItem(i, crop, box, tb.detected, sil, j, tb.scene))

    def _finish(self, rec: dict[str, Any], t: PersonTrack) -> TrackResult:
        cfg = self.cfg
        quality = t.quality()
        sid = track_sequence_id(rec["sequence_id"], t.track_id, t.segment)
        while sid in self.used:  # an id that came back after its track was closed (taken back by its person)
            t.segment += 1
            sid = track_sequence_id(rec["sequence_id"], t.track_id, t.segment)
        self.used.add(sid)
        result = TrackResult(sid, t.track_id, t.segment, t.first, t.last, len(t.items), quality, [])
        if len(t.items) < cfg.min_frames:
            result.dropped, result.reason = "short", f"{len(t.items)} frame(s) < min_frames={cfg.min_frames}"
            return result
        problems = quality.problems(cfg)
        if problems:
            result.dropped, result.reason = "low_quality", "; ".join(problems)
            return result
        windower = Windower(cfg.clip_len, cfg.stride)
        for item in t.items:
            result.clips += windower.push(item)
        tail, result.padded = windower.finish(len(t.items), cfg.min_frames)
        result.clips += tail
        return result
