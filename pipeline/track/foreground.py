"""People as the moving foreground of a (mostly) static scene: OpenCV's MOG2 or KNN background subtractor at a small
working size, shadows dropped, blobs cleaned up and cut into person boxes.

Real footage breaks the textbook setting in four ways, each handled here:
- people present from the first frame: `prime` seeds the model with the temporal median of the first frames (people
  move, the background does not), so they are found at once and leave no ghost where they stood;
- the light changes (clouds, auto exposure): each frame's per-channel brightness is matched to the background's;
- the camera moves: camera_motion says whether it is still (subtract as is), moving as one homography explains
  (pan, shake: each frame is warped into a fixed anchor view and subtracted there, a pixel's misregistration
  forgiven; once the view has panned away the current frame becomes the anchor, seeded with what was learned and
  with the median of the last frames, pixels seen too briefly left out), or moving in a way no homography undoes
  (parallax, no static background), which raises CameraMotionError once it is sustained: a learned detector is the
  way forward there, not a wall of false foreground;
- blobs are not people: fragments of one person (head, legs cut off by a thin gap) are merged, blobs much wider than
  a standing person (people side by side) are split at the valleys of their column profile, specks and blobs of
  impossible shape are dropped;
- people are smaller further away: once the camera's ground plane is learned from the people found (ground_plane),
  far people below the global minimum size are kept, and blobs too tall or too wide for where they stand are cut
  into the people they hold.
"""

from __future__ import annotations

from collections import Counter, deque

import cv2
import numpy as np

from pipeline.track.camera_motion import CameraMotion, Motion
from pipeline.track.detection import CameraMotionError, Detections
from pipeline.track.ground_plane import GroundPlane, tight_box

METHODS = ("mog2", "knn")
# `gait index`, /identify and `gait watch` detect as the model's own preprocessing did: the advice is for it.
ADVICE = (
    "use a learned detector instead: gait preprocess --detector onnx --onnx-model yolo.onnx "
    "(a model trained on those shards then indexes and serves with it too)"
)


def shrink(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`frame` resized to `size` (w, h): halved by area averaging while still twice as big (OpenCV's fast path),
    then bilinear."""
    while frame.shape[1] >= 2 * size[0] and frame.shape[0] >= 2 * size[1]:
        frame = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if frame.shape[1] != size[0] or frame.shape[0] != size[1]:
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
    return frame


def register(images: list[np.ndarray], to_image: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """(pile [n, h, w, 3], unseen [n, h, w]): `images` warped into one view, where `to_image[i]` maps that view's
    pixels to image i's (None: identity), and which pixels each image does not show."""
    h, w = images[0].shape[:2]
    pile, unseen = [], []
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for img, hom in zip(images, to_image, strict=True):
        if hom is None:
            pile.append(img)
            unseen.append(np.zeros((h, w), bool))
            continue
        pile.append(cv2.warpPerspective(img, hom, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE))
        seen = cv2.warpPerspective(np.ones((h, w), np.uint8), hom, (w, h), flags=cv2.INTER_NEAREST | flags)
        unseen.append(cv2.erode(seen, np.ones((3, 3), np.uint8)) == 0)
    return np.stack(pile), np.stack(unseen)


def registered_median(pile: np.ndarray, unseen: np.ndarray, base: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(median, support): the per-pixel median of registered images (see `register`) over those that show the
    pixel, and how many do. Where at most one does, image `base` (which must show the whole view) fills it."""
    support = len(pile) - unseen.sum(axis=0)
    if unseen.any():
        # Left out = as many pushed to 0 as to 255 (alternating per pixel): the median of the rest is unchanged.
        high = (np.cumsum(unseen, axis=0) % 2 == 0) & unseen
        pile = np.where(unseen[..., None], np.where(high, 255, 0).astype(np.uint8)[..., None], pile)
    med = temporal_median(pile)
    thin = support <= 1
    if thin.any():
        med[thin] = pile[base][thin]
    return med, support


def temporal_median(pile: np.ndarray) -> np.ndarray:
    """Per-pixel median along the first axis (the upper one for an even count): a sorting network of
    element-wise min / max, many times faster than np.median on a short axis."""
    rows, n = list(pile), len(pile)
    for r in range(n):  # odd-even transposition sort
        for i in range(r % 2, n - 1, 2):
            rows[i], rows[i + 1] = cv2.min(rows[i], rows[i + 1]), cv2.max(rows[i], rows[i + 1])
    return rows[n // 2]


def agreeing(pile: np.ndarray, unseen: np.ndarray, ref: np.ndarray, tol: int = 15) -> np.ndarray:
    """How many of the registered images show each pixel within `tol` grey levels of `ref` (every channel)."""
    count = np.zeros(ref.shape[:2], np.int32)
    for img, out in zip(pile, unseen, strict=True):
        close = cv2.inRange(cv2.absdiff(img, ref), (0, 0, 0), (tol, tol, tol)) > 0
        count += close & ~out
    return count


class ForegroundDetector:
    """Background subtraction → person boxes (see the module docstring). Options:

    method: "mog2" or "knn" (OpenCV's subtractors, shadows detected and dropped); width: working width in pixels
    (frames are shrunk to it, boxes scaled back); min_area: the smallest person as a share of the frame's area;
    history, threshold: the subtractor's (threshold: MOG2's varThreshold or KNN's dist2Threshold, None = OpenCV's
    default); learning_rate: the background's adaptation per frame (None = 1 / history: someone standing still is
    absorbed after about history / 10 frames); compensate: follow camera motion (False = assume a fixed camera);
    fps, window_s, max_unreliable: CameraMotionError once more than max_unreliable of the last window_s seconds of
    frames had no usable camera motion; ground_plane: learn how tall people are at each row and use it (see
    ground_plane.py)."""

    MIN_SUPPORT = 4  # recent frames (of 11, over 2 s) that must have seen a pixel before its median is trusted
    # (6 found people walking in at the leading edge of a pan late: pan MOTA +0.04–0.05, docs/benchmarks.md)
    MIN_COVERAGE = 0.85  # re-anchor once the anchor view covers less of the frame than this

    def __init__(
        self,
        method: str = "mog2",
        width: int = 320,
        min_area: float = 0.0008,
        history: int = 500,
        threshold: float | None = None,
        learning_rate: float | None = None,
        compensate: bool = True,
        fps: float = 25.0,
        window_s: float = 2.0,
        max_unreliable: float = 0.3,
        ground_plane: bool = True,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown background method {method!r}; known: {', '.join(METHODS)}")
        self.method = method
        self.width = width
        self.min_area = min_area
        self.history = history
        self.threshold = threshold
        self.learning_rate = 1.0 / history if learning_rate is None else learning_rate
        self.compensate = compensate
        self.window = max(4, round(window_s * fps))
        self.max_unreliable = max_unreliable
        self.ground_plane = ground_plane
        self.plane: GroundPlane | None = None
        self.open_k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.close_k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 7))
        self.frame_size: tuple[int, int] | None = None  # (W, H) of the source
        self.size: tuple[int, int] = (0, 0)  # (w, h) working size
        self.min_px = 0.0  # the smallest person, in working pixels
        self.sub: cv2.BackgroundSubtractor | None = None
        self.motion = CameraMotion()
        # Subtraction happens in the anchor view: a past frame, the current one while the camera stays still.
        # Homographies (None = identity, the fast path of a still camera): anchor → current frame, anchor → the
        # motion estimator's key frame.
        self.to_frame: np.ndarray | None = None
        self.to_key: np.ndarray | None = None
        self.background: np.ndarray | None = None  # the anchor view's seed background (fills what is out of view)
        self.background_lo: np.ndarray | None = None  # its 3 x 3 minimum and maximum, widened a little
        self.background_hi: np.ndarray | None = None
        self.background_sample = np.ones((1, 3), np.float32)
        self.gain: tuple[float, ...] | None = None  # per-channel brightness correction of the current frames
        self.trusted: np.ndarray | None = None  # 0/255 in the anchor view: where the seed can be trusted (None: all)
        self.recent: deque[tuple[np.ndarray, np.ndarray | None]] = deque(maxlen=48)  # (frame, to_frame) to re-seed
        self.verdicts: deque[tuple[int, bool, str]] = deque(maxlen=self.window)  # (frame index, reliable, reason)
        self.index = 0  # frames seen by detect
        self.still_run = 0  # still frames in a row
        self.lost = False  # the registration to the anchor is lost: re-anchor on the next good frame
        self.world_from_anchor = np.eye(3)  # the current anchor view → the first one (tracking coordinates)
        self.last_mask: np.ndarray | None = None  # the last frame's people: the camera's motion is not read off them

    # --- setup -------------------------------------------------------------------------------------------------

    def _sizes(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        s = min(1.0, self.width / w)
        self.frame_size = (w, h)
        self.size = (max(16, round(w * s)), max(16, round(h * s)))
        self.min_px = max(12.0, self.min_area * self.size[0] * self.size[1])

    def _new_subtractor(self) -> cv2.BackgroundSubtractor:
        if self.method == "mog2":
            sub = cv2.createBackgroundSubtractorMOG2(self.history, 16.0, True)
            if self.threshold is not None:
                sub.setVarThreshold(self.threshold)
            sub.setVarMin(9.0)  # compressed video is noisier than OpenCV's floor of 4 assumes
            return sub
        sub = cv2.createBackgroundSubtractorKNN(self.history, 400.0, True)
        if self.threshold is not None:
            sub.setDist2Threshold(self.threshold)
        return sub

    def _seed(self, background: np.ndarray, trusted: np.ndarray | None) -> None:
        """A fresh subtractor that knows `background` (the anchor view's) and nothing else."""
        self.sub = self._new_subtractor()
        if self.method == "knn":  # every sample of every pixel (3 sets of 7) replaced by the background
            for _ in range(24):  # (a rate of 1 would reset the model at each call)
                self.sub.apply(background, learningRate=0.5)
        else:  # one mode per pixel, its variance settled from OpenCV's initial guess towards the floor
            for _ in range(8):
                self.sub.apply(background, learningRate=-1)
        self.background = background
        # What the anchor view may show at a pixel when the registration is off by a pixel (moving camera only).
        k = np.ones((3, 3), np.uint8)
        self.background_lo = cv2.subtract(cv2.erode(background, k), (12, 12, 12, 0))
        self.background_hi = cv2.add(cv2.dilate(background, k), (12, 12, 12, 0))
        self.background_sample = background[::6, ::6].reshape(-1, 3).astype(np.float32) + 1.0
        self.gain = None
        self.trusted = None if trusted is None or trusted.all() else trusted.astype(np.uint8) * 255
        self.to_frame = None
        self.still_run = 0

    def prime(self, frames: list[np.ndarray]) -> None:
        """Learn the empty scene from the source's first frames (registered to the first one when the camera
        moves): their temporal median seeds the model. `detect` then starts again from the first frame."""
        if not frames:
            return
        self._sizes(frames[0])
        self.plane = GroundPlane() if self.ground_plane else None
        self.motion.reset()
        self.verdicts.clear()
        self.to_key = None
        smalls, to_image = [], []
        for i, frame in enumerate(frames):
            small = shrink(frame, self.size)
            if self.compensate:
                m = self.motion.update(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
                self._judge(i, m)
                if m.restarted:
                    break  # later frames cannot be registered to the first
                if not m.reliable:
                    continue
                self._follow(m)
            smalls.append(small)
            to_image.append(self.to_frame)
        pick = np.unique(np.linspace(0, len(smalls) - 1, min(25, len(smalls))).round().astype(int))
        seed, support = registered_median(*register([smalls[i] for i in pick], [to_image[i] for i in pick]))
        self._seed(seed, support >= min(self.MIN_SUPPORT, max(1, len(pick) // 2)))
        self.motion.reset()
        self.verdicts.clear()
        self.recent.clear()
        self.to_key = None
        self.index = 0
        self.lost = False
        self.world_from_anchor = np.eye(3)
        self.last_mask = None

    # --- camera motion -----------------------------------------------------------------------------------------

    def _judge(self, index: int, m: Motion) -> None:
        """Remember this frame's verdict; raise once unusable motion is sustained."""
        self.verdicts.append((index, m.reliable, m.reason))
        bad = [v for v in self.verdicts if not v[1]]
        if len(self.verdicts) < self.window // 2 or len(bad) <= self.max_unreliable * len(self.verdicts):
            return
        reason = Counter(v[2] for v in bad).most_common(1)[0][0]
        share = round(100 * len(bad) / len(self.verdicts))
        first, last = self.verdicts[0][0], self.verdicts[-1][0]
        raise CameraMotionError(
            f"the camera moves in a way background subtraction cannot undo: no usable global motion in {share}% "
            f"of frames {first}–{last} ({reason}); {ADVICE}"
        )

    def _follow(self, m: Motion) -> None:
        """Place the current frame relative to the anchor view from a reliable motion."""
        if m.still:
            self.to_frame = self.to_key
        else:
            self.to_frame = m.homography if self.to_key is None else m.homography @ self.to_key
        if m.rekeyed:
            self.to_key = self.to_frame

    def _coverage(self) -> float:
        """Share of the current frame the anchor view covers."""
        w, h = self.size
        corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]]).reshape(-1, 1, 2)
        seen = cv2.perspectiveTransform(corners, self.to_frame).reshape(-1, 2)
        if cv2.contourArea(seen) <= 0:
            return 0.0
        area, _ = cv2.intersectConvexConvex(seen, corners.reshape(-1, 2))
        return float(area) / (w * h)

    def _reanchor(self, small: np.ndarray, fresh: bool = False) -> None:
        """Make the current frame the anchor view. Its seed: what the old model learned where the two views
        overlap, the median of the recent frames where they saw it often enough, else (untrusted) this frame.
        `fresh`: nothing learned applies any more (lost registration, a model that no longer fits): this frame."""
        w, h = self.size
        old = np.eye(3) if self.to_frame is None else self.to_frame
        back = np.linalg.inv(old)  # current frame → old anchor
        if fresh or self.sub is None:
            seed, trusted = small, None
            self.recent.clear()
        else:
            recent = list(self.recent)[:: max(1, len(self.recent) // 10)][:10]  # spread over the last 2 s
            homs = [None] + [back if t is None else t @ back for _, t in recent]
            pile, unseen = register([small] + [f for f, _ in recent], homs)
            seed, support = registered_median(pile, unseen)
            steady = (support >= self.MIN_SUPPORT) & (agreeing(pile, unseen, seed) >= 0.8 * support)  # no one passed
            lately = agreeing(pile[:6], unseen[:6], small) == 6  # unchanged for the last second
            ones = np.full((h, w), 255, np.uint8) if self.trusted is None else self.trusted
            seen = cv2.warpPerspective(ones, old, (w, h), flags=cv2.INTER_NEAREST)
            seen = cv2.erode(seen, np.ones((5, 5), np.uint8)) > 0
            learned = cv2.warpPerspective(self.sub.getBackgroundImage(), old, (w, h), flags=cv2.INTER_LINEAR)
            # Where the last second agrees with this frame but not with what was learned, the model holds a ghost
            # (someone seeded into it who has walked on since): the recent median heals it.
            healed = lately & (cv2.absdiff(learned, seed).max(axis=2) > 30)
            seen &= ~healed
            seed[seen] = learned[seen]
            trusted = seen | steady
            self.recent = deque(((f, back if t is None else t @ back) for f, t in self.recent), self.recent.maxlen)
        self.world_from_anchor = self.world_from_anchor @ back  # the world stays the first anchor's view
        to_key = back if self.to_key is None else self.to_key @ back
        self.to_key = None if np.allclose(to_key, np.eye(3), atol=1e-6) else to_key
        self._seed(seed, trusted)

    # --- detection ---------------------------------------------------------------------------------------------

    def _relit(self, img: np.ndarray) -> np.ndarray:
        """`img` with its per-channel brightness matched to the seed background's (a cloud, the camera's auto
        exposure): the median ratio over a sparse grid, which people, a small part of the frame, do not sway."""
        if self.index % 4 == 0 or self.gain is None:  # light changes slowly: measured every 4th frame
            sample = img[::6, ::6].reshape(-1, 3).astype(np.float32) + 1.0
            gain = np.median(self.background_sample / sample, axis=0)
            self.gain = None if np.abs(gain - 1.0).max() < 0.01 else (*gain.tolist(), 0.0)
        return img if self.gain is None else cv2.multiply(img, self.gain, dtype=cv2.CV_8U)

    def detect(self, frame: np.ndarray) -> Detections:
        """People in this frame: boxes in its pixels, and the foreground mask at the working size (None when the
        camera's motion could not be followed in this frame)."""
        if self.frame_size is None:
            self.prime([frame])
        w, h = self.size
        small = shrink(frame, self.size)
        index, self.index = self.index, self.index + 1
        if self.compensate:
            m = self.motion.update(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), self.last_mask)
            self._judge(index, m)
            if not m.reliable:  # no boxes, and no mask: the foreground of this frame is unknown
                self.lost = self.lost or m.restarted
                return Detections.empty()
            if self.lost:  # nothing ties this frame to the anchor any more: start over from it
                self.to_frame = None
                self.to_key = None if m.still or m.rekeyed else np.linalg.inv(m.homography)
                self._reanchor(small, fresh=True)
                self.lost = False
                if self.plane is not None:  # perhaps another view (a cut, a PTZ move): sizes are learned anew
                    self.plane = GroundPlane()
            else:
                self._follow(m)
            self.still_run = self.still_run + 1 if m.still else 0
        if self.to_frame is None:
            fg = self.sub.apply(self._relit(small), learningRate=self.learning_rate)
            _, mask = cv2.threshold(fg, 200, 255, cv2.THRESH_BINARY)  # shadows are 127
            if self.trusted is not None:
                mask &= self.trusted
        else:
            view = self.background.copy()  # what the anchor view shows where this frame does not reach
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            cv2.warpPerspective(small, self.to_frame, (w, h), dst=view, flags=flags, borderMode=cv2.BORDER_TRANSPARENT)
            view = self._relit(view)
            fg = self.sub.apply(view, learningRate=self.learning_rate)
            _, fg = cv2.threshold(fg, 200, 255, cv2.THRESH_BINARY)
            fg &= ~cv2.inRange(view, self.background_lo, self.background_hi)  # a pixel's misregistration
            if self.trusted is not None:
                fg &= self.trusted
            mask = cv2.warpPerspective(fg, self.to_frame, (w, h), flags=cv2.INTER_NEAREST)
            mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0  # edge pixels are interpolated
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self.open_k)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self.close_k)
        to_world = self._to_world()
        if cv2.countNonZero(mask) > 0.6 * w * h:  # the model no longer fits the scene (lights, a lost warp)
            self._reanchor(small, fresh=True)
            return Detections.empty()
        if self.to_frame is not None and (self._coverage() < self.MIN_COVERAGE or self.still_run >= self.window):
            self._reanchor(small)  # panned away from the anchor, or settled at a new view
        self.recent.appendleft((small, self.to_frame))
        self.last_mask = mask
        boxes, scores = people(mask, self.min_px, self.plane)
        if len(boxes):
            boxes *= np.float32([self.frame_size[0] / w, self.frame_size[1] / h] * 2)
        return Detections(boxes, scores, mask, to_world)

    def _to_world(self) -> np.ndarray | None:
        """This frame's pixels → the first anchor view's (the "world": the scene as the camera first saw it), so
        that a tracker predicts people's motion in the scene, not on a panning or shaking screen. None when the
        camera has not moved."""
        to_anchor = np.eye(3) if self.to_frame is None else np.linalg.inv(self.to_frame)
        world = self.world_from_anchor @ to_anchor
        if np.allclose(world, np.eye(3), atol=1e-6):
            return None
        sx, sy = self.size[0] / self.frame_size[0], self.size[1] / self.frame_size[1]
        scale = np.diag([sx, sy, 1.0])
        return np.linalg.inv(scale) @ world @ scale


# --- blobs → people ----------------------------------------------------------------------------------------------

MIN_ASPECT, MAX_ASPECT = 1.1, 6.0  # height / width of a person's box (crouching .. arms at the sides, far away)
SPLIT_ASPECT = 2.2  # a blob lower than this × its width may be people side by side


def _merge_fragments(boxes: list[list[int]]) -> list[list[int]]:
    """Join the pieces of one person: stacked boxes sharing columns with a thin gap between them (a head, legs),
    and boxes mostly inside another."""
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                wa, wb, ha, hb = a[2] - a[0], b[2] - b[0], a[3] - a[1], b[3] - b[1]
                cols = min(a[2], b[2]) - max(a[0], b[0])
                gap = max(a[1], b[1]) - min(a[3], b[3])  # < 0: they overlap vertically
                u = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                stacked = cols >= 0.5 * min(wa, wb) and -0.5 * min(ha, hb) <= gap <= max(3.0, 0.15 * max(ha, hb))
                # A piece (head, legs) is much shorter than the rest; two whole people, one behind the other, are
                # not, and rarely line up column for column.
                piece = min(ha, hb) <= 0.55 * max(ha, hb)
                aligned = cols >= 0.7 * min(wa, wb) and u[2] - u[0] <= 1.3 * max(wa, wb)
                inside = cols > 0 and gap < 0 and cols * -gap >= 0.6 * min(wa * ha, wb * hb)
                tall_enough = (u[3] - u[1]) <= MAX_ASPECT * (u[2] - u[0])
                if (stacked and tall_enough and (piece or aligned)) or inside:
                    boxes[i] = u
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


def _valley(profile: np.ndarray, lo: int, hi: int, k: int) -> tuple[int, float]:
    """(column, depth): the lowest point of the smoothed profile within [lo, hi) and its height relative to the
    lower of the peaks on either side (0: a clean gap, 1: no valley)."""
    p = cv2.blur(profile.reshape(1, -1), (k, 1)).ravel()
    c = lo + int(np.argmin(p[lo:hi]))
    peak = min(p[:c].max(), p[c:].max())
    return c, (float(p[c]) / peak if peak > 0 else 1.0)


def _split_wide(mask: np.ndarray, box: list[int], depth: int = 0) -> list[list[int]]:
    """A blob wider than a standing person, cut at the deepest valley of its column profile, over the whole height
    or over the top (heads and shoulders stay apart when bodies touch), recursively."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    lo, hi = max(1, int(0.2 * h)), min(w - 1, w - int(0.2 * h))  # each side at least a narrow person
    if h >= SPLIT_ASPECT * w or depth > 4 or hi <= lo:
        return [box]
    crop = mask[y0:y1, x0:x1]
    k = max(3, int(h * 0.08) | 1)
    whole = np.count_nonzero(crop, axis=0).astype(np.float32)
    top = np.count_nonzero(crop[: max(2, int(0.3 * h))], axis=0).astype(np.float32)
    c, depth_ratio = min((_valley(whole, lo, hi, k), _valley(top, lo, hi, k)), key=lambda v: v[1])
    if depth_ratio >= 0.7:
        return [box]
    parts = []
    for a, b in ((x0, x0 + c), (x0 + c, x1)):
        t = tight_box(mask, a, y0, b, y1)
        if t is not None:
            parts += _split_wide(mask, t, depth + 1)
    return parts


def people(mask: np.ndarray, min_px: float, plane: GroundPlane | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes (x0, y0, x1, y1 in the mask's pixels, float32) and scores in [0, 1] from a foreground mask.
    With a `plane`, it learns from the boxes found by size and shape alone, and then adds far people and cuts
    stacked and side-by-side pairs (ground_plane.py)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for c in contours:
        x, y, bw, bh = cv2.boundingRect(c)
        if bw * bh >= min_px / 4:  # smaller: a speck
            boxes.append([x, y, x + bw, y + bh])
    H, W = mask.shape
    out, scores, small = [], [], []
    for b in _merge_fragments(boxes):
        area = cv2.countNonZero(mask[b[1] : b[3], b[0] : b[2]])
        if area < min_px:
            small.append((b, area))
            continue
        for x0, y0, x1, y1 in _split_wide(mask, b) if area >= 2 * min_px else [b]:
            bw, bh = x1 - x0, y1 - y0
            area = cv2.countNonZero(mask[y0:y1, x0:x1])
            fill = area / float(bw * bh)
            border = x0 <= 1 or y0 <= 1 or x1 >= W - 1 or y1 >= H - 1  # partly out of view: any shape
            if area < min_px or fill < 0.2 or bh > MAX_ASPECT * bw:
                continue
            if not border and bh < MIN_ASPECT * bw:
                continue
            out.append([x0, y0, x1, y1])
            scores.append(min(1.0, fill / 0.6) * min(1.0, area / (3 * min_px)))
    if plane is not None:
        plane.observe(np.asarray(out, np.float32).reshape(-1, 4), (W, H))  # what size and shape alone found
        for b, area in small:
            score = plane.far_person(mask, b, area, min_px)
            if score is not None:
                out.append(b)
                scores.append(score)
        cut, cut_scores = [], []
        for box, score in zip(out, scores, strict=True):
            for part in plane.split_stacked(mask, box):
                for piece in plane.split_side_by_side(mask, part, min_px):
                    cut.append(piece)
                    cut_scores.append(score)
        out, scores = cut, cut_scores
    if not out:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    return np.asarray(out, np.float32), np.clip(np.asarray(scores, np.float32), 0.0, 1.0)
