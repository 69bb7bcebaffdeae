"""`gait watch SOURCE`: live input. Follows a camera, stream or file over a sliding window of frames and asks
who is walking: through the HTTP endpoint (`--url`, the window as JPEG frames to /identify, tagged with the
camera's name for the Dialogflow webhook), or locally with a model and a registry. Prints one line per person
per window: each window's people are found and tracked, and each is identified on their own.
"""

from __future__ import annotations

import base64
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
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

    def line(self) -> str:
        sim = "" if self.similarity is None else f" ({self.similarity:.2f})"
        return f"t={self.t:7.1f}s  {self.identity}{sim}{'  ' + self.detail if self.detail else ''}"


def open_source(source: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(int(source)) if source.isdigit() else cv2.VideoCapture(source)
    if not cap.isOpened():
        raise ValueError(f"cannot open {source!r} (a camera index, an RTSP/HTTP stream URL, or a video file)")
    return cap


def frames(source: str, max_seconds: float = 0.0) -> Iterator[tuple[float, np.ndarray]]:
    """(time, BGR frame) until the file ends, `max_seconds` pass, or a stream stays down after a reconnect."""
    cap = open_source(source)
    live = source.isdigit() or "://" in source
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
    detector inside each window)."""
    buf: deque[np.ndarray] = deque(maxlen=size)
    since = 0
    for t, frame in stream:
        buf.append(frame)
        since += 1
        if len(buf) == size and since >= step:
            since = 0
            yield t, list(buf)


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

    def __init__(self, model_dir: str, registry_url: str, threshold: float = 0.5) -> None:
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


def watch(source: str, identify: Any, window: int = 48, step: int = 24, max_seconds: float = 0.0) -> Iterator[Sighting]:
    """One Sighting per person per window (each window's people are found and tracked anew)."""
    for t, frames_ in windows(frames(source, max_seconds), window, step):
        answer = identify(frames_)
        for person in answer.get("people") or [answer]:
            yield _sighting(t, person, answer.get("error", ""))


def _sighting(t: float, person: dict[str, Any], error: str) -> Sighting:
    parts = [error] if error else []
    if person.get("track_id") is not None and person.get("boxes"):
        f, x0, y0, x1, y1 = person["boxes"][-1]
        parts.append(f"track {person['track_id']} box {x0:.0f},{y0:.0f}-{x1:.0f},{y1:.0f} (frame {f})")
    if not error and person.get("candidates"):
        parts.append("top: " + ", ".join(f"{c['identity']} {c['similarity']:.2f}" for c in person["candidates"]))
    return Sighting(t, person.get("identity", "-"), person.get("similarity"), "  ".join(parts))
