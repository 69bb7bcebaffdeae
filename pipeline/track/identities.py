"""Who is who after a crossing: clothing colour decides what box overlap cannot.

ByteTrack links boxes by overlap and motion alone. Where walkers cross, their foreground merges into one blob,
and when it splits again the tracker can hand each id to the wrong person, or lose one and start a new id. For a
gait pipeline that is the worst error there is: one sequence then holds two people's walks.

`IdentityKeeper` sits after the tracker and owns the ids everything downstream sees. It learns each person's
colour (a hue × saturation × value histogram of their foreground, or the middle of their box without a mask)
only while their box touches no other. Tracks that touch form a tangle; once every member of a tangle has been
apart for a few frames, the ids the tangle took in (and those of people lost nearby lately) are handed out again
by a joint assignment (Hungarian, on Bhattacharyya distance) over every track in it, never pairwise: three
walkers crossing at once are one problem. A track the tracker starts anew after losing someone (hidden behind
another walker for a while) takes back a recently lost id when its colour fits that person clearly. Nothing is
held back: a reassignment applies from the frame it is made, and ids are never reused.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from pipeline.track.detection import touches_edge

BINS = (12, 4, 4)  # hue × saturation × value: clothing colours, and black apart from white
SETTLE = 3  # frames a track must be apart from everyone before its colour is trusted after a tangle
LEARN_RATE = 0.1  # weight of a new clear frame in a person's colour (after the first 1 / LEARN_RATE frames)
MIN_LEARNED = 3  # clear frames before a person's colour is used at all
SWAP_GAIN = 0.1  # total Bhattacharyya distance a reassignment must save over keeping the ids as they are
NEW_COST = 0.35  # distance at which a track is as likely someone else as the person compared
RELINK_COST = 0.3  # a new track takes back a lost id only below this distance ...
RELINK_MARGIN = 0.1  # ... and this much closer than to any other lost person
REACH = 1.5  # a lost person is a candidate only within this many of their heights of where they were lost
PAD = 0.05  # boxes closer than this share of their width touch


@dataclass
class _Person:
    """One id as downstream sees it: its colour, learnt while apart from everyone."""

    colour: np.ndarray | None = None
    learned: int = 0
    last_frame: int = -1
    last_box: np.ndarray | None = None


@dataclass
class _Tangle:
    """Tracks that have touched since they were last all apart, and the ids they brought in."""

    tracks: set[int] = field(default_factory=set)
    ids: set[int] = field(default_factory=set)


def colour_of(frame: np.ndarray, box: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
    """The normalised HSV histogram of a person's box: its foreground where there is a mask (at any scale), else
    the middle of the box (the torso and legs, little background)."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    bw, bh = x1 - x0, y1 - y0
    if mask is None:  # no mask: the middle of the box, where the person is
        x0, x1, y0, y1 = x0 + 0.25 * bw, x1 - 0.25 * bw, y0 + 0.15 * bh, y1 - 0.1 * bh
    c0, c1 = int(max(0, x0)), int(min(w, x1))
    r0, r1 = int(max(0, y0)), int(min(h, y1))
    if c1 - c0 < 2 or r1 - r0 < 4:
        return None
    step = max(1, (r1 - r0) // 64)  # at most ~64 rows: colour needs no detail
    crop = frame[r0:r1:step, c0:c1:step]
    fg = None
    if mask is not None:
        s = mask.shape[1] / w
        m = mask[int(r0 * s) : max(int(r0 * s) + 1, int(r1 * s)), int(c0 * s) : max(int(c0 * s) + 1, int(c1 * s))]
        fg = cv2.resize(m, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_NEAREST)
        if cv2.countNonZero(fg) < 16:
            return None
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], fg, list(BINS), [0, 180, 0, 256, 0, 256]).ravel()
    total = float(hist.sum())
    return hist / total if total > 0 else None


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance of two colour histograms: 0 the same, 1 nothing in common."""
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


def _touching(boxes: np.ndarray) -> np.ndarray:
    """[N, N] bool: which boxes overlap or nearly do (PAD of the narrower one's width)."""
    if not len(boxes):
        return np.zeros((0, 0), bool)
    pad = PAD * (boxes[:, 2] - boxes[:, 0])
    grown = boxes + np.stack([-pad, -pad, pad, pad], 1)
    ix = np.minimum(grown[:, None, 2], grown[None, :, 2]) - np.maximum(grown[:, None, 0], grown[None, :, 0])
    iy = np.minimum(grown[:, None, 3], grown[None, :, 3]) - np.maximum(grown[:, None, 1], grown[None, :, 1])
    out = (ix > 0) & (iy > 0)
    np.fill_diagonal(out, False)
    return out


class IdentityKeeper:
    """The tracker's ids → the ids downstream sees, corrected by colour at crossings; `update` once a frame."""

    def __init__(self, lost_frames: int = 45) -> None:
        # How long a lost person's id can still be taken back: longer than the tracker keeps a lost track, since
        # the tracker may hand a person's track to someone else in a crossing and give it back at the next one.
        self.memory = 2 * lost_frames
        self.id_of: dict[int, int] = {}  # tracker id → person id
        self.people: dict[int, _Person] = {}
        self.recent: dict[int, deque[np.ndarray]] = {}  # tracker id → its colours since it was last touched
        self.tangles: list[_Tangle] = []
        self.unchecked: set[int] = set()  # new tracks not yet compared with the lost
        self.seen: dict[int, tuple[int, np.ndarray]] = {}  # tracker id → the last frame it was in, its box there
        self.frame = -1
        self._ids = itertools.count(1)

    def _new_id(self) -> int:
        i = next(self._ids)
        self.people[i] = _Person()
        return i

    def _settled_colour(self, t: int) -> np.ndarray:
        """Track `t`'s colour over the frames since it was last touched."""
        return np.mean(np.stack(self.recent[t]), axis=0).astype(np.float32)

    def update(
        self, frame: np.ndarray, mask: np.ndarray | None, tracks: list[int], boxes: np.ndarray, moving: bool = False
    ) -> list[int]:
        """The person id of each of this frame's tracks (tracker ids in, same order out). `moving`: the camera
        moves (a pan brings new colours in at the edge: no one is judged changed there)."""
        self.frame += 1
        for t in tracks:
            if t not in self.id_of:
                self.id_of[t] = self._new_id()
                self.recent[t] = deque(maxlen=SETTLE)
                self.unchecked.add(t)
        touch = _touching(np.asarray(boxes, np.float32).reshape(-1, 4))
        self._join(tracks, touch)
        tangled = {t for g in self.tangles for t in g.tracks}
        for k, t in enumerate(tracks):
            person = self.people[self.id_of[t]]
            person.last_frame, person.last_box = self.frame, np.asarray(boxes[k], np.float32)
            self.seen[t] = (self.frame, person.last_box)
            if touch[k].any():
                self.recent[t].clear()
                continue
            colour = colour_of(frame, boxes[k], mask)
            if colour is None:
                continue
            self.recent[t].append(colour)
            if t not in tangled:
                if not moving and self._changed_at_edge(t, person, boxes[k], (frame.shape[1], frame.shape[0])):
                    person = self._renew(t, boxes[k])
                self._learn(person, colour)
        present = set(tracks)
        for g in list(self.tangles):
            self._maybe_resolve(g, present)
        for t in list(self.unchecked):
            if t not in present or t in tangled:
                continue
            if len(self.recent[t]) == SETTLE:
                self.unchecked.discard(t)
                self._relink(t, present)
        if self.frame % 100 == 0:
            self._forget()
        return [self.id_of[t] for t in tracks]

    def _changed_at_edge(self, t: int, person: _Person, box: np.ndarray, size: tuple[int, int]) -> bool:
        """Track `t`, apart from everyone at the view's edge, has settled into a colour that is not its person's."""
        if len(self.recent[t]) < SETTLE or person.learned < MIN_LEARNED or not touches_edge(box, size):
            return False
        return distance(self._settled_colour(t), person.colour) > NEW_COST

    def _renew(self, t: int, box: np.ndarray) -> _Person:
        """Track `t` is someone new from this frame on (or someone lost lately: checked as a new track is)."""
        self.id_of[t] = self._new_id()
        person = self.people[self.id_of[t]]
        person.last_frame, person.last_box = self.frame, np.asarray(box, np.float32)
        self.unchecked.add(t)
        return person

    def _forget(self) -> None:
        """Drop what can no longer matter (tracks and people gone for longer than a lost id is kept), so that
        memory stays flat over an endless stream."""
        old = self.frame - 2 * self.memory
        for t in [t for t, (f, _) in self.seen.items() if f < old]:
            for table in (self.seen, self.id_of, self.recent):
                table.pop(t, None)
            self.unchecked.discard(t)
        live = set(self.id_of.values())
        for i in [i for i, p in self.people.items() if p.last_frame < old and i not in live]:
            del self.people[i]

    @staticmethod
    def _learn(person: _Person, colour: np.ndarray) -> None:
        person.learned += 1
        rate = max(LEARN_RATE, 1.0 / person.learned)
        person.colour = colour.copy() if person.colour is None else (1 - rate) * person.colour + rate * colour

    def _join(self, tracks: list[int], touch: np.ndarray) -> None:
        """Tracks that touch go into one tangle, with the ids they carry now."""
        for a, b in zip(*np.nonzero(np.triu(touch)), strict=True):
            ta, tb = tracks[a], tracks[b]
            ga = next((g for g in self.tangles if ta in g.tracks), None)
            gb = next((g for g in self.tangles if tb in g.tracks), None)
            if ga is None and gb is None:
                self.tangles.append(_Tangle({ta, tb}, {self.id_of[ta], self.id_of[tb]}))
            elif ga is None or gb is None:
                g = ga or gb
                for t in (ta, tb):
                    if t not in g.tracks:
                        g.tracks.add(t)
                        g.ids.add(self.id_of[t])
            elif ga is not gb:
                ga.tracks |= gb.tracks
                ga.ids |= gb.ids
                self.tangles.remove(gb)

    def _maybe_resolve(self, g: _Tangle, present: set[int]) -> None:
        """Once every member still present has been apart for SETTLE frames, hand the tangle's ids out again."""
        rows = sorted(t for t in g.tracks if t in present)
        if any(len(self.recent[t]) < SETTLE for t in rows):
            return
        self.tangles.remove(g)
        known = [
            i
            for i in g.ids
            if i in self.people
            and self.people[i].learned >= MIN_LEARNED
            and self.frame - self.people[i].last_frame <= self.memory
        ]
        if rows:  # and whoever was lost near them lately: the tracker may have dropped the person in the tangle
            known = sorted(set(known) | set(self._lost_near([self.seen[t][1] for t in rows], present)))
        if not rows or not known:
            return
        mine = [self.id_of[t] for t in rows]
        colours = [self._settled_colour(t) for t in rows]
        # Columns: the ids the tangle took in, then one "stay as you are" per row.
        cost = np.full((len(rows), len(known) + len(rows)), 1e3, np.float64)
        for r, c in enumerate(colours):
            for k, i in enumerate(known):
                cost[r, k] = distance(c, self.people[i].colour)
            cost[r, len(known) + r] = NEW_COST
        kept = sum(cost[r, known.index(i)] if i in known else NEW_COST for r, i in enumerate(mine))
        rr, cc = linear_sum_assignment(cost)
        if kept - cost[rr, cc].sum() <= SWAP_GAIN:
            return
        given = {int(r): known[int(c)] for r, c in zip(rr, cc, strict=True) if c < len(known)}
        for r, t in enumerate(rows):
            if r in given:
                self._give(t, given[r])
            elif mine[r] in given.values():  # its id went to the track that fits it better: someone new to us
                self._give(t, self._new_id())

    def _lost_near(self, boxes: list[np.ndarray], present: set[int]) -> list[int]:
        """People no track holds now, lost within `memory` frames within REACH of their height of any of `boxes`,
        whose colour is known."""
        live = {self.id_of[u] for u in present}
        centres = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for b in boxes], np.float32)
        out = []
        for i, p in self.people.items():
            if i in live or p.learned < MIN_LEARNED or p.last_box is None:
                continue
            if not 0 < self.frame - p.last_frame <= self.memory:
                continue
            centre = (p.last_box[:2] + p.last_box[2:]) / 2
            if (np.hypot(*(centres - centre).T) <= REACH * (p.last_box[3] - p.last_box[1])).any():
                out.append(i)
        return out

    def _relink(self, t: int, present: set[int]) -> None:
        """A new track that fits a recently lost person nearby clearly, and no one else, takes back their id
        (someone walking in elsewhere is new)."""
        lost = self._lost_near([self.seen[t][1]], present)
        if not lost:
            return
        colour = self._settled_colour(t)
        costs = sorted((distance(colour, self.people[i].colour), i) for i in lost)
        best, runner_up = costs[0][0], costs[1][0] if len(costs) > 1 else 1.0
        if best < RELINK_COST and runner_up - best > RELINK_MARGIN:
            self._give(t, costs[0][1])

    def _give(self, t: int, person: int) -> None:
        """Track `t` is `person` from now on; a track that was them before is someone new."""
        for u, i in list(self.id_of.items()):
            if i == person and u != t:
                self.id_of[u] = self._new_id()
        self.people[person].last_frame = self.frame
        self.id_of[t] = person
        self.unchecked.discard(t)
