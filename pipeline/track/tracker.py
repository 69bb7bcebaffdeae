"""Person tracks: detections linked over time by ByteTrack (the `supervision` library's), one track per person.

ByteTrack matches high-score detections to tracks first, then the low-score ones (a person half hidden behind
another still extends their track), and keeps a lost track alive for `lost_seconds`, so a person who is
occluded for a moment keeps their id. Its Kalman filter predicts boxes through short gaps; a frame whose box
is only predicted is marked `detected=False`, which the quality filter counts. One thing it cannot know: a lost
track that left the view at its edge, taken up by someone coming in there a moment later, is someone else as
often as not, so that track goes on under a new id (the IdentityKeeper gives the old one back if their colour
says it is the same person).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from pipeline.track.detection import CameraMotionError, Detections, Detector, touches_edge
from pipeline.track.identities import IdentityKeeper

PRIME_FRAMES = 50  # frames a detector's background model learns from before the first detection
REENTRY_SECONDS = 0.2  # a track unseen this long that left at the view's edge and is found there again: a new id


@dataclass
class TrackedBox:
    """One track's box in one frame."""

    track_id: int
    box: np.ndarray  # [4] float32, x0 y0 x1 y1 in frame pixels
    detected: bool  # matched to a detection of this frame (not only predicted through a gap)
    score: float
    # the box in the scene's fixed view (what it was tracked in), when the camera has moved; None: the frame's own
    scene: np.ndarray | None = None


@dataclass
class Track:
    """A whole track: the frames it covers, a box per frame, and whether each was detected."""

    track_id: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def box_array(self) -> np.ndarray:
        return np.stack(self.boxes).astype(np.float32) if self.boxes else np.zeros((0, 4), np.float32)


class PersonTracker:
    """ByteTrack over one source's frames; `update` once per frame, in order."""

    def __init__(
        self,
        fps: float = 25.0,
        lost_seconds: float = 1.5,
        activation: float = 0.25,
        match_threshold: float = 0.8,
        min_consecutive: int = 1,
    ) -> None:
        import supervision as sv

        self.fps = fps if fps and fps > 0 else 25.0
        self.lost_frames = max(1, round(lost_seconds * self.fps))
        # supervision 0.30 marks its ByteTrack deprecated in favour of the `trackers` package, which needs the
        # GUI build of OpenCV (opencv-python) beside our headless one: the pinned class is the same algorithm.
        warnings.filterwarnings("ignore", message="The `ByteTrack` was deprecated", category=FutureWarning)
        # ByteTrack counts its buffer in frames at 30 fps: `lost_seconds` of this source's frames. A track is
        # given from its first matched frame (`min_consecutive` 1): waiting for a second cost every person
        # their first frame (vtest: 3 of 168 annotated person-frames); a one-off blob's track is dropped later
        # as short (`min_frames`).
        self._tracker = sv.ByteTrack(
            track_activation_threshold=activation,
            lost_track_buffer=max(1, round(lost_seconds * 30)),
            minimum_matching_threshold=match_threshold,
            frame_rate=self.fps,
            minimum_consecutive_frames=min_consecutive,
        )
        self.reentry_frames = max(2, round(REENTRY_SECONDS * self.fps))
        self._ids: dict[int, int] = {}  # ByteTrack's id → ours
        self._seen: dict[int, tuple[int, np.ndarray]] = {}  # ByteTrack's id → the last frame it was in, its box
        self._next_id = 1
        self._frame = -1

    def _own_id(self, raw: int, box: np.ndarray, size: tuple[int, int]) -> int:
        """Our id for ByteTrack's track `raw` in this frame: a new one when it left at the edge and is taken
        up there again after `reentry_frames`."""
        seen = self._seen.get(raw)
        reentry = (
            seen is not None
            and self._frame - seen[0] > self.reentry_frames
            and touches_edge(seen[1], size)
            and touches_edge(box, size)
        )
        if raw not in self._ids or reentry:
            self._ids[raw] = self._next_id
            self._next_id += 1
        self._seen[raw] = (self._frame, box)
        return self._ids[raw]

    def update(self, detections: Detections, size: tuple[int, int]) -> list[TrackedBox]:
        """The tracks present in this frame (boxes of the detections they matched). `size`: the frame's (width,
        height), to tell people leaving and coming into view at its edge."""
        import supervision as sv

        boxes = detections.boxes.astype(np.float32).reshape(-1, 4)
        if detections.to_world is not None:
            boxes = warp_boxes(boxes, detections.to_world)
        dets = sv.Detections(
            xyxy=boxes,
            confidence=detections.scores.astype(np.float32).reshape(-1),
            class_id=np.zeros(len(detections), int),
        )
        self._frame += 1
        for raw in [k for k, (f, _) in self._seen.items() if self._frame - f > 2 * self.lost_frames]:
            del self._seen[raw], self._ids[raw]  # ByteTrack has dropped that track long ago
        out = self._tracker.update_with_detections(dets)
        if out.tracker_id is None:
            return []
        scores = out.confidence if out.confidence is not None else np.ones(len(out), np.float32)
        tracked = np.asarray(out.xyxy, np.float32).reshape(-1, 4)
        if detections.to_world is None or not len(tracked):
            xyxy, scene = tracked, [None] * len(tracked)
        else:
            xyxy, scene = warp_boxes(tracked, np.linalg.inv(detections.to_world)), list(tracked)
        return [
            TrackedBox(self._own_id(int(t), b, size), b, True, float(s), w)
            for t, b, s, w in zip(out.tracker_id, xyxy, scores, scene, strict=True)
            if t is not None and int(t) >= 0
        ]


def warp_boxes(boxes: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Boxes [N, 4] through a homography: the box around each box's warped corners."""
    import cv2

    if not len(boxes):
        return boxes
    x0, y0, x1, y1 = boxes.T
    corners = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1)
    warped = cv2.perspectiveTransform(corners.reshape(-1, 1, 2).astype(np.float64), homography).reshape(-1, 4, 2)
    return np.concatenate([warped.min(axis=1), warped.max(axis=1)], axis=1).astype(np.float32)


def tracked_frames(
    frames: Iterable[np.ndarray],
    detector: Detector,
    tracker: PersonTracker,
    prime_frames: int = PRIME_FRAMES,
    masker: Detector | None = None,
    appearance: bool = True,
) -> Iterator[tuple[int, np.ndarray, Detections, list[TrackedBox]]]:
    """(index, frame, its detections, the tracks in it) for each frame, in order. The first `prime_frames`
    frames are held back once to prime the detector; nothing else is held. With a `masker` (a background model
    beside a detector that finds boxes only), its foreground mask becomes the detections' mask; where it cannot
    follow the camera there is no mask (no silhouettes), and the boxes still come. With `appearance`, the ids
    are the IdentityKeeper's (the tracker's, corrected by clothing colour where people crossed)."""
    keeper = IdentityKeeper(tracker.lost_frames) if appearance else None
    it = iter(frames)
    head: list[np.ndarray] = []
    for frame in it:
        head.append(frame)
        if len(head) >= prime_frames:
            break
    detector.prime(head)
    if masker is not None:
        masker.prime(head)

    def all_frames() -> Iterator[np.ndarray]:
        yield from head
        head.clear()  # the primed frames are not held past their turn
        yield from it

    for i, frame in enumerate(all_frames()):
        dets = detector.detect(frame)
        if masker is not None and dets.mask is None:
            try:
                dets.mask = masker.detect(frame).mask
            except CameraMotionError:
                masker = None
        boxes = tracker.update(dets, (frame.shape[1], frame.shape[0]))
        if keeper is not None:  # every frame, empty ones too: its memory is counted in frames
            xyxy = np.stack([b.box for b in boxes]) if boxes else np.zeros((0, 4), np.float32)
            moving = dets.to_world is not None
            ids = keeper.update(frame, dets.mask, [b.track_id for b in boxes], xyxy, moving=moving)
            for b, person in zip(boxes, ids, strict=True):
                b.track_id = person
        yield i, frame, dets, boxes


def track_frames(
    frames: Iterable[np.ndarray],
    detector: Detector,
    fps: float = 25.0,
    prime_frames: int = PRIME_FRAMES,
    appearance: bool = True,
) -> list[Track]:
    """Every track of a source, whole (boxes only: for scoring trackers; preprocessing streams instead)."""
    tracks: dict[int, Track] = {}
    for i, _frame, _dets, boxes in tracked_frames(
        frames, detector, PersonTracker(fps), prime_frames, appearance=appearance
    ):
        for tb in boxes:
            t = tracks.setdefault(tb.track_id, Track(tb.track_id))
            t.frames.append(i)
            t.boxes.append(tb.box)
            t.detected.append(tb.detected)
    return [tracks[k] for k in sorted(tracks)]
