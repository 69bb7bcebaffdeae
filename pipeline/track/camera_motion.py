"""Global camera motion, so background subtraction knows whether it may subtract as is (still camera), only after
undoing the motion (pan, shake: one homography moves the whole background), or not at all (parallax, no static
background, nothing to track: a learned detector is needed).

Sparse corners (goodFeaturesToTrack) of a key frame are followed into each new frame with pyramidal Lucas-Kanade,
then a RANSAC homography maps the key frame onto the frame. Measuring every frame against the key frame, not
against the previous one, keeps errors from adding up (a shaking camera is registered to the same key frame for as
long as it shakes) and lets a pan too slow to see in one frame add up until it shows. The common case, a still camera,
costs one LK step on a small image per frame and no homography. A new key frame is taken when too many corners
are lost (they left the view or sat on people). New corners are not taken where the caller last saw people: in a
crowd they would outnumber the background's and make a pan look like parallax. Tracking runs at a reduced size
(`scale`); all pixels in and out are the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

TOO_FEW = "too few trackable corners: a textureless scene, or motion too fast"
INCONSISTENT = "no single homography explains the scene: parallax, independent motion or no static background"
MAX_PATCH_ERR = 8.0  # mean absolute grey-level difference of an LK patch that still counts as the same place
LK = {
    "winSize": (11, 11),
    "maxLevel": 2,
    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 12, 0.02),
    "flags": cv2.OPTFLOW_USE_INITIAL_FLOW,
}


@dataclass
class Motion:
    """Camera motion from the current key frame to this frame."""

    homography: np.ndarray  # [3, 3] float64: key frame pixels → this frame's; identity when still or unreliable
    inlier_ratio: float  # share of the tracked corners the homography explains (1.0 when still)
    shift_px: float  # median displacement of the tracked corners since the key frame
    reliable: bool  # False: too few corners, or no homography explains most of them
    still: bool = False  # reliable and the median displacement is below the still threshold
    reason: str = ""  # why not reliable
    rekeyed: bool = False  # this frame is the new key frame: later homographies start from it
    restarted: bool = False  # rekeyed without a homography: the registration to earlier frames is lost


class CameraMotion:
    """Feed grayscale frames in order with `update`; each answer is the motion from the key frame (the first frame,
    then whichever frame an answer says was `rekeyed`) to the frame given. After an unreliable frame the key frame
    stays (a passing truck does not lose the registration) unless `max_lost` unreliable frames in a row, or lost
    corners, force a restart."""

    def __init__(
        self,
        scale: float = 0.5,
        still_px: float = 0.5,
        max_corners: int = 120,
        min_corners: int = 16,
        min_inlier_ratio: float = 0.6,
        ransac_px: float = 1.0,
        max_lost: int = 5,
    ) -> None:
        self.scale = scale
        self.still_px = still_px
        self.max_corners = max_corners
        self.min_corners = min_corners
        self.min_inlier_ratio = min_inlier_ratio
        self.ransac_px = ransac_px
        self.max_lost = max_lost
        self._to_small = np.diag([scale, scale, 1.0])
        self._from_small = np.diag([1 / scale, 1 / scale, 1.0])
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next frame is the first."""
        self.key: np.ndarray | None = None  # key frame at the tracking size
        self.key_pts = np.zeros((0, 1, 2), np.float32)  # corners in the key frame
        self.pts = np.zeros((0, 1, 2), np.float32)  # the same corners in the last frame
        self.lost = 0  # unreliable frames in a row
        self.still_frames = 0  # still frames since corners that moved on their own were last dropped
        self.people: np.ndarray | None = None  # where the caller last saw people (its size), for new corners

    def _small(self, gray: np.ndarray) -> np.ndarray:
        if self.scale == 1.0:
            return gray
        h, w = gray.shape[:2]
        size = (max(8, round(w * self.scale)), max(8, round(h * self.scale)))
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)

    def _corners(self, img: np.ndarray, keep: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """New corners of `img` (within `mask`, and off the people the caller last saw) away from `keep`, up to
        max_corners in all."""
        want = self.max_corners - len(keep)
        if want <= 0:
            return np.zeros((0, 1, 2), np.float32)
        if self.people is not None and cv2.countNonZero(self.people) < 0.6 * self.people.size:
            near = cv2.dilate(self.people, np.ones((7, 7), np.uint8))  # they move on before the corners are tracked
            near = cv2.resize(near, img.shape[1::-1], interpolation=cv2.INTER_NEAREST)
            off = np.where(near > 0, 0, 255).astype(np.uint8)
            mask = off if mask is None else cv2.bitwise_and(mask, off)
        if len(keep):
            mask = np.full(img.shape[:2], 255, np.uint8) if mask is None else mask.copy()
            for x, y in keep.reshape(-1, 2):
                cv2.circle(mask, (int(x), int(y)), 5, 0, -1)
        new = cv2.goodFeaturesToTrack(img, want, 0.01, 6, mask=mask, blockSize=5)
        return np.zeros((0, 1, 2), np.float32) if new is None else new.astype(np.float32)

    def _rekey(self, img: np.ndarray, keep: np.ndarray) -> None:
        """`img` becomes the key frame; `keep`: corners already tracked into it."""
        pts = np.concatenate([keep, self._corners(img, keep)])
        self.key, self.key_pts, self.pts = img, pts, pts.copy()
        self.lost = self.still_frames = 0

    def update(self, gray: np.ndarray, people: np.ndarray | None = None) -> Motion:
        """The motion from the key frame to this frame (`gray`: uint8 [H, W], the same size every call).
        `people`: where the caller last saw moving people (uint8, nonzero; any size of the same aspect). Corners
        there move on their own, and in a crowd they would outnumber the background's, so new corners are not
        taken there."""
        img = self._small(gray)
        self.people = people  # read only when new corners are taken (rarely), not every frame
        if self.key is None:
            self._rekey(img, np.zeros((0, 1, 2), np.float32))
            return Motion(np.eye(3), 1.0, 0.0, True, still=True, rekeyed=True)
        if len(self.key_pts):
            nxt, status, err = cv2.calcOpticalFlowPyrLK(self.key, img, self.key_pts, self.pts.copy(), **LK)
            h, w = img.shape[:2]
            p, err = nxt.reshape(-1, 2), err.ravel()
            ok = (status.ravel() == 1) & (p[:, 0] >= 0) & (p[:, 1] >= 0) & (p[:, 0] < w) & (p[:, 1] < h)
            # A corner whose patch no longer looks like the key frame's is covered (someone walked over it).
            ok &= err <= max(MAX_PATCH_ERR, 3 * float(np.median(err[ok]))) if ok.any() else ok
            self.pts, self.key_pts = nxt[ok], self.key_pts[ok]
        n = len(self.pts)
        if n < self.min_corners:
            return self._featureless(img)
        disp = np.linalg.norm((self.pts - self.key_pts).reshape(-1, 2), axis=1)
        shift = float(np.median(disp)) / self.scale
        if shift < self.still_px:
            self.lost = 0
            self.still_frames += 1
            if self.still_frames >= 50 or (n < self.max_corners // 2 and self.still_frames >= 10):
                self._top_up(img, disp)
            return Motion(np.eye(3), 1.0, shift, True, still=True)
        hom, inliers = cv2.findHomography(self.key_pts, self.pts, cv2.RANSAC, self.ransac_px * self.scale)
        ratio = float(inliers.mean()) if inliers is not None else 0.0
        if hom is None or ratio < self.min_inlier_ratio or int(inliers.sum()) < self.min_corners:
            return self._unreliable(img, ratio, shift, INCONSISTENT)
        if self._disowned(img.shape, inliers.ravel().astype(bool)) > 0.25:
            return self._unreliable(img, ratio, shift, INCONSISTENT)
        self.lost = 0
        if ratio >= 0.8:  # a clear verdict: the outliers sit on moving things (else they stay, as evidence)
            keep = inliers.ravel().astype(bool)
            self.key_pts, self.pts = self.key_pts[keep], self.pts[keep]
        rekey = len(self.pts) < 0.6 * self.max_corners
        if rekey:
            self._rekey(img, self.pts)
        return Motion(self._from_small @ hom @ self._to_small, ratio, shift, True, rekeyed=rekey)

    def _disowned(self, shape: tuple[int, ...], inliers: np.ndarray) -> float:
        """Share of the image (cells of a 4 x 4 grid holding corners) where the homography explains fewer than
        half the corners: people are a cell or two, a second motion or parallax is a large part of the image."""
        h, w = shape[:2]
        p = self.pts.reshape(-1, 2)
        cell = (np.clip(p[:, 1] * 4 // h, 0, 3) * 4 + np.clip(p[:, 0] * 4 // w, 0, 3)).astype(int)
        count = np.bincount(cell, minlength=16)
        explained = np.bincount(cell, weights=inliers, minlength=16)
        used = count >= 3
        return float(np.mean(explained[used] < 0.5 * count[used])) if used.any() else 0.0

    def _top_up(self, img: np.ndarray, disp: np.ndarray) -> None:
        """While still: drop corners that wandered off (they sat on people), add new ones where this frame still
        shows what the key frame showed (not on someone who has walked in since)."""
        ok = disp <= 2 * self.still_px * self.scale
        self.key_pts, self.pts = self.key_pts[ok], self.pts[ok]
        same = cv2.erode((cv2.absdiff(img, self.key) < 12).astype(np.uint8) * 255, np.ones((15, 15), np.uint8))
        new = self._corners(img, self.pts, same)
        drift = np.median(self.pts - self.key_pts, axis=0) if len(self.pts) else np.zeros((1, 2), np.float32)
        self.key_pts = np.concatenate([self.key_pts, new - drift.astype(np.float32)])
        self.pts = np.concatenate([self.pts, new])
        self.still_frames = 0

    def _unreliable(self, img: np.ndarray, ratio: float, shift: float, reason: str) -> Motion:
        self.lost += 1
        restarted = self.lost >= self.max_lost or len(self.pts) < self.min_corners
        if restarted:
            self._rekey(img, np.zeros((0, 1, 2), np.float32))
        return Motion(np.eye(3), ratio, shift, False, reason=reason, rekeyed=restarted, restarted=restarted)

    def _featureless(self, img: np.ndarray) -> Motion:
        """Too few corners to track: still if the frame hardly differs from the key frame (a flat background shows
        no motion, and needs no compensation either), else unreliable."""
        changed = float(np.count_nonzero(cv2.absdiff(img, self.key) > 16)) / img.size
        if changed < 0.15:
            self.lost = 0
            self.key_pts = self._corners(self.key, np.zeros((0, 1, 2), np.float32))
            self.pts = self.key_pts.copy()
            return Motion(np.eye(3), 1.0, 0.0, True, still=True)
        return self._unreliable(img, 0.0, float("nan"), TOO_FEW)
