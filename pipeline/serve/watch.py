"""`gait watch SOURCE`: live input. Follows a camera, stream or file over a sliding window of frames and asks
who is walking: through the HTTP endpoint (`--url`, the window as JPEG frames to /identify, tagged with the
camera's name for the Dialogflow webhook), or locally with a model and a registry. Prints one line per person
per window: each window's people are found and tracked, and each is identified on their own. A person keeps one
number across windows (`PersonIds`: their boxes in the frames two windows share, or, where a live source's
windows share none, where they were heading), and the watch ends with what it saw of each person
(`WatchSummary`).
"""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from pipeline.common.model_dir import ModelInfo
from pipeline.identify.embed import load_embedder
from pipeline.models.embedding import embed_clips_shared
from pipeline.serve.uploads import BadInput, ClipMaker

RECONNECT_S = 2.0


@dataclass
class Sighting:
    t: float  # seconds since the watch started (or the frame's time in a file)
    identity: str
    similarity: float | None
    detail: str = ""
    person: int | None = None  # the same number in every window that holds the same person

    def line(self) -> str:
        sim = "" if self.similarity is None else f" ({self.similarity:.2f})"
        who = "" if self.person is None else f"person {self.person}  "
        return f"t={self.t:7.1f}s  {who}{self.identity}{sim}{'  ' + self.detail if self.detail else ''}"


class PersonIds:
    """Numbers people across windows. Each window is tracked on its own, so its track ids start anew.
    Consecutive windows of a file share `window - step` frames: a person of the new window whose boxes in those
    frames overlap a person's of the last window (mean IoU ≥ `min_iou` over ≥ `min_shared` frames) keeps that
    person's number. A live source's windows can share none (the newest frames are taken while the last window
    was being identified): there a person seen again within `max_gap` frames keeps their number when their first
    box overlaps where the last window's person was heading (their last box moved on at its recent speed, as a
    tracker's motion model predicts). Anyone else is given a new one."""

    def __init__(self, min_iou: float = 0.3, min_shared: int = 3, max_gap: int = 50) -> None:
        self.min_iou, self.min_shared, self.max_gap = min_iou, min_shared, max_gap
        self.last: dict[int, dict[int, np.ndarray]] = {}  # number → stream frame → box, of the last window
        self.count = 0

    def assign(self, start: int, people: list[dict[str, Any]]) -> list[int | None]:
        """Numbers for a window's people (None for an answer without boxes); `start` is the stream frame of the
        window's first frame, and each person's boxes are [frame in the window, x0, y0, x1, y1]."""
        import supervision as sv

        paths = [{start + int(b[0]): np.asarray(b[1:5], float) for b in p.get("boxes") or []} for p in people]
        pairs = []
        for i, path in enumerate(paths):
            for number, old in self.last.items():
                shared = sorted(path.keys() & old.keys())
                if len(shared) >= self.min_shared:
                    ious = sv.box_iou_batch(np.stack([path[f] for f in shared]), np.stack([old[f] for f in shared]))
                    iou = float(np.mean(np.diag(ious)))
                elif path and not shared and 0 < (first := min(path)) - max(old) <= self.max_gap:
                    iou = float(sv.box_iou_batch(path[first][None], _heading(old, first)[None])[0, 0])
                else:
                    continue
                if iou >= self.min_iou:
                    pairs.append((iou, i, number))
        numbers: list[int | None] = [None] * len(people)
        taken: set[int] = set()
        for _, i, number in sorted(pairs, reverse=True):
            if numbers[i] is None and number not in taken:
                numbers[i] = number
                taken.add(number)
        for i, path in enumerate(paths):
            if numbers[i] is None and path:
                self.count += 1
                numbers[i] = self.count
        self.last = {n: path for n, path in zip(numbers, paths, strict=True) if n is not None}
        return numbers


def _heading(path: dict[int, np.ndarray], frame: int, recent: int = 8) -> np.ndarray:
    """Where the box of `path` would be at the later `frame`: its last box moved on at the speed of its last
    `recent` frames."""
    frames = sorted(path)[-recent:]
    last = frames[-1]
    speed = (path[last] - path[frames[0]]) / (last - frames[0]) if last > frames[0] else 0.0
    return path[last] + speed * (frame - last)


@dataclass
class WatchSummary:
    """What a watch saw, for its last lines: each person's answers over the windows that held them."""

    windows: int = 0
    seconds: float = 0.0
    answers: dict[int, list[tuple[float, str]]] = field(default_factory=dict)  # person → (t, identity) a window

    def add(self, sighting: Sighting) -> None:
        self.seconds = max(self.seconds, sighting.t)
        if sighting.person is not None:
            self.answers.setdefault(sighting.person, []).append((sighting.t, sighting.identity))

    def lines(self, shown: int = 20) -> list[str]:
        """A line per person (most windows first): their most frequent answer, in how many of their windows;
        then the totals, last."""
        out = []
        people = sorted(self.answers.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        verdicts = [Counter(identity for _, identity in seen).most_common(1)[0] for _, seen in people]
        for (number, seen), (name, n) in list(zip(people, verdicts, strict=True))[:shown]:
            out.append(
                f"  person {number}: {name} in {n} of {len(seen)} window(s), t={seen[0][0]:.1f}–{seen[-1][0]:.1f} s"
            )
        if len(people) > shown:
            out.append(f"  … and {len(people) - shown} more")
        named = sum(1 for name, _ in verdicts if name not in ("unknown", "-"))
        out.append(
            f"watch: {self.windows} windows over {self.seconds:.1f} s; {len(people)} people followed, {named} of them "
            "named by most of their windows"
        )
        return out


def open_source(source: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(int(source)) if source.isdigit() else cv2.VideoCapture(source)
    if not cap.isOpened():
        raise ValueError(f"cannot open {source!r} (a camera index, an RTSP/HTTP stream URL, or a video file)")
    return cap


def is_live(source: str) -> bool:
    """A camera index or a stream URL: frames come at the camera's pace, whether or not they are read."""
    return source.isdigit() or "://" in source


def frames(source: str, max_seconds: float = 0.0) -> Iterator[tuple[float, np.ndarray]]:
    """(time, BGR frame) until the file ends, `max_seconds` pass, or a stream stays down after a reconnect."""
    cap = open_source(source)
    live = is_live(source)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    start, n = time.monotonic(), 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                if not live:
                    return
                cap.release()
                time.sleep(RECONNECT_S)  # a dropped stream: one reconnect, then stop
                cap = open_source(source)
                ok, frame = cap.read()
                if not ok:
                    return
            t = time.monotonic() - start if live else n / fps
            n += 1
            if max_seconds and t > max_seconds:
                return
            yield t, frame
    finally:
        cap.release()


def windows(
    stream: Iterator[tuple[float, np.ndarray]], size: int, step: int
) -> Iterator[tuple[float, list[np.ndarray]]]:
    """Sliding windows of `size` frames every `step` frames (the person is followed by the preprocessing's
    detector inside each window), to the source's end: a source shorter than one window is one window of all
    its frames, and frames that came after the last window, fewer than `step`, end in one more window of the
    last `size` frames."""
    buf: deque[np.ndarray] = deque(maxlen=size)
    since, t, given = 0, 0.0, False
    for t, frame in stream:
        buf.append(frame)
        since += 1
        if len(buf) == size and since >= step:
            since, given = 0, True
            yield t, list(buf)
    if buf and (since or not given):
        yield t, list(buf)


def latest_windows(
    stream: Iterator[tuple[float, np.ndarray]], size: int, step: int
) -> Iterator[tuple[float, int, list[np.ndarray]]]:
    """Live sources: (time of its last frame, stream frame of its first, frames) of the newest `size` frames,
    once `step` new frames have come since the last window. A thread reads the camera all along, so an
    identification slower than `step` frames skips frames instead of falling behind: a camera's frames queue
    up in its driver or socket while nobody reads them, and each window would be older than the last."""
    cond = threading.Condition()
    newest: deque[tuple[float, np.ndarray]] = deque(maxlen=size)
    state: dict[str, Any] = {"read": 0, "done": False, "error": None}
    stop = threading.Event()

    def read() -> None:
        try:
            for item in stream:
                with cond:
                    newest.append(item)
                    state["read"] += 1
                    cond.notify()
                if stop.is_set():
                    break
        except Exception as exc:  # the camera could not be opened, or failed: raised where the windows are used
            state["error"] = exc
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # a generator over a capture releases it
            with cond:
                state["done"] = True
                cond.notify()

    reader = threading.Thread(target=read, name="watch-reader", daemon=True)
    reader.start()
    taken = 0  # frames read when the last window was taken

    def ready() -> bool:
        return len(newest) == size and state["read"] - taken >= step

    try:
        while True:
            with cond:
                cond.wait_for(lambda: state["done"] or ready())
                if not ready():
                    break
                taken, window = state["read"], list(newest)
            yield window[-1][0], taken - size, [frame for _, frame in window]
    finally:
        stop.set()
    if state["error"] is not None:
        raise state["error"]


def _jpeg(frame: np.ndarray) -> str:
    return base64.b64encode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()).decode()


class RemoteIdentifier:
    """Windows → the endpoint's /identify (JSON frames)."""

    def __init__(self, url: str, camera: str, timeout_s: float = 60.0) -> None:
        import requests

        self.session = requests.Session()
        self.url = f"{url.rstrip('/')}/identify"
        self.camera, self.timeout_s = camera, timeout_s

    def __call__(self, window: list[np.ndarray]) -> dict[str, Any]:
        r = self.session.post(
            self.url,
            params={"camera": self.camera, "top_k": 3},
            json={"frames": [_jpeg(f) for f in window]},
            timeout=self.timeout_s,
        )
        body = r.json()
        return body if r.ok else {"identity": "-", "similarity": None, "error": body.get("error", r.reason)}


class LocalIdentifier:
    """Windows → the same preprocessing, embedder and classifier as the endpoint, in this process."""

    def __init__(self, model_dir: str, registry_url: str, threshold: float | None = None) -> None:
        from pipeline.serve.deployments import Classifier

        info = ModelInfo(model_dir)
        self.clips = ClipMaker(info.preprocess, info.column)
        self.embedder = load_embedder(model_dir)
        self.classifier = Classifier(registry_url, model_dir, threshold)

    def __call__(self, window: list[np.ndarray]) -> dict[str, Any]:
        try:
            walkers = self.clips.walkers_from_images([cv2.imencode(".png", f)[1].tobytes() for f in window])
        except BadInput as exc:
            return {"identity": "-", "similarity": None, "error": str(exc)}
        people = [self.classifier.identify(embed_clips_shared(self.embedder, w.clips), 3) | w.where() for w in walkers]
        return people[0] | {"people": people}


def watch(
    source: str,
    identify: Any,
    window: int = 48,
    step: int = 24,
    max_seconds: float = 0.0,
    summary: WatchSummary | None = None,
) -> Iterator[Sighting]:
    """One Sighting per person per window, each person numbered across windows (PersonIds); `summary`, when
    given, is kept up to date."""
    ids = PersonIds()
    stream = frames(source, max_seconds)
    if is_live(source):
        taken = latest_windows(stream, window, step)
    else:  # a file waits for its reader: every window, the first once full, then one every `step` frames
        read = [0]  # frames read when a window comes: its last is the newest

        def counted() -> Iterator[tuple[float, np.ndarray]]:
            for item in stream:
                read[0] += 1
                yield item

        taken = ((t, read[0] - len(w), w) for t, w in windows(counted(), window, step))
    for t, start, frames_ in taken:
        answer = identify(frames_)
        people = answer.get("people") or [answer]
        for person, number in zip(people, ids.assign(start, people), strict=True):
            sighting = _sighting(t, person, answer.get("error", ""), number, start)
            if summary is not None:
                summary.add(sighting)
            yield sighting
        if summary is not None:
            summary.windows += 1


def _sighting(t: float, person: dict[str, Any], error: str, number: int | None, start: int) -> Sighting:
    parts = [error] if error else []
    if person.get("boxes"):
        f, x0, y0, x1, y1 = person["boxes"][-1]
        parts.append(f"box {x0:.0f},{y0:.0f}-{x1:.0f},{y1:.0f} (frame {start + int(f)})")
    if not error and person.get("candidates"):
        parts.append("top: " + ", ".join(f"{c['identity']} {c['similarity']:.2f}" for c in person["candidates"]))
    return Sighting(t, person.get("identity", "-"), person.get("similarity"), "  ".join(parts), number)
