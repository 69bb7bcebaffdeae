"""Frames out of a source (video file, frame folder, OpenGait pickles, camera or network stream), with OpenCV.

Every way a source can be bad is turned into an IngestError with the stage and a message a person can act on;
size limits are checked from headers before anything is decoded.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np
from PIL import Image

from pipeline.common.storage import resolve
from pipeline.common.synthetic_format import decode_truth
from pipeline.ingest.errors import IngestError
from pipeline.ingest.pickle_frames import pickle_frames

REMOTE_SCHEMES = ("s3://", "gs://", "gcs://", "hdfs://")


@contextmanager
def local_file(uri: str) -> Iterator[str]:
    """A local path for `uri`: itself when local, else a private temporary copy (OpenCV reads local files)."""
    if not uri.startswith(REMOTE_SCHEMES):
        yield uri.removeprefix("file://")
        return
    fs, path = resolve(uri)
    fd, tmp = tempfile.mkstemp(prefix="gait-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, "wb") as out, fs.open_input_stream(path) as src:
            while chunk := src.read(1 << 22):
                out.write(chunk)
        yield tmp
    finally:
        os.unlink(tmp)


def _check_readable(path: str) -> None:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            fh.read(1)
    except FileNotFoundError as exc:
        raise IngestError("open", "FileNotFoundError", "the file does not exist (any more)") from exc
    except PermissionError as exc:
        raise IngestError("open", "PermissionError", "permission denied: the file cannot be read") from exc
    except IsADirectoryError as exc:
        raise IngestError("open", "IsADirectoryError", "a directory, not a video file") from exc
    if size == 0:
        raise IngestError("open", "EmptyFile", "the file is empty (0 bytes)")


def _check_pixels(w: int, h: int, max_pixels: int) -> None:
    if w * h > max_pixels:
        raise IngestError(
            "decode",
            "FrameTooLarge",
            f"frames are {w}x{h} = {w * h} pixels, over the limit of {max_pixels} (max_pixels)",
        )


def _to_bgr(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img


def _read(
    cap: cv2.VideoCapture, max_pixels: int, max_frames: int, deadline: float | None, no_frames: str
) -> Iterator[np.ndarray]:
    """Frames of an opened capture, after the size check, up to `max_frames` or the `deadline` (monotonic)."""
    _check_pixels(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), max_pixels)
    n = 0
    while (not max_frames or n < max_frames) and (deadline is None or time.monotonic() < deadline):
        ok, frame = cap.read()
        if not ok:
            break
        n += 1
        yield _to_bgr(frame)
    if n == 0:
        raise IngestError("decode", "NoFrames", no_frames)


def video_frames(uri: str, max_pixels: int, max_frames: int = 0, threads: int = 0) -> Iterator[np.ndarray]:
    """Frames of a video file. `threads` > 0 caps FFmpeg's decoding threads (a Ray task that holds one CPU
    should decode on one); 0 leaves OpenCV's default."""
    with local_file(uri) as path:
        _check_readable(path)
        params = [cv2.CAP_PROP_N_THREADS, threads] if threads > 0 else []
        cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG, params)
        try:
            if not cap.isOpened():
                raise IngestError(
                    "decode",
                    "UnreadableVideo",
                    "OpenCV cannot open it as a video: not a video, or truncated or corrupt",
                )
            yield from _read(
                cap,
                max_pixels,
                max_frames,
                None,
                "the video opened but no frame could be decoded (truncated or corrupt)",
            )
        finally:
            cap.release()


def folder_frames(paths: list[str], max_pixels: int, max_frames: int = 0) -> Iterator[np.ndarray]:
    """Frames of a folder; sizes come from the image headers first, so a bad folder is refused undecoded."""
    if max_frames:
        paths = paths[:max_frames]
    sizes: dict[tuple[int, int], int] = {}
    for p in paths:
        with local_file(p) as local:
            _check_readable(local)
            try:
                with Image.open(local) as im:
                    size = im.size
            except Exception as exc:
                raise IngestError(
                    "decode", "UnreadableFrame", f"{os.path.basename(p)} is not a readable image"
                ) from exc
        _check_pixels(*size, max_pixels)
        sizes[size] = sizes.get(size, 0) + 1
    if len(sizes) > 1:
        listed = ", ".join(f"{w}x{h} ({n} frames)" for (w, h), n in sorted(sizes.items(), key=lambda kv: -kv[1]))
        raise IngestError("decode", "MixedFrameSizes", f"frames of different sizes in one folder: {listed}")
    for p in paths:
        with local_file(p) as local:
            img = cv2.imread(local, cv2.IMREAD_UNCHANGED)
        if img is None:
            raise IngestError("decode", "UnreadableFrame", f"OpenCV cannot decode {os.path.basename(p)}")
        if img.dtype != np.uint8:
            img = cv2.convertScaleAbs(img, alpha=255.0 / max(1, int(img.max())))
        yield _to_bgr(img)


def stream_frames(src: str, seconds: float, max_pixels: int, max_frames: int = 0) -> Iterator[np.ndarray]:
    """A camera index or an rtsp/http(s) URL, read for `seconds` of wall time (or `max_frames`)."""
    cap = cv2.VideoCapture(int(src)) if src.isdigit() else cv2.VideoCapture(src)
    try:
        if not cap.isOpened():
            raise IngestError("open", "StreamUnavailable", f"cannot open the stream {src}")
        yield from _read(cap, max_pixels, max_frames, time.monotonic() + seconds, f"the stream {src} gave no frame")
    finally:
        cap.release()


def source_frames(
    rec: dict[str, Any], max_pixels: int, max_frames: int = 0, stream_seconds: float = 10.0, threads: int = 0
) -> Iterator[np.ndarray]:
    """BGR frames of a manifest record, whatever its kind."""
    kind = rec["kind"]
    if kind == "video":
        return video_frames(rec["source"], max_pixels, max_frames, threads)
    if kind == "frames":
        return folder_frames(list(rec["frames"] or []), max_pixels, max_frames)
    if kind == "pickles":
        return pickle_frames(list(rec["frames"] or []), max_pixels, max_frames)
    if kind == "stream":
        return stream_frames(rec["source"], stream_seconds, max_pixels, max_frames)
    raise IngestError("open", "UnknownKind", f"unknown source kind {kind!r}")


def video_header(path: str, default_fps: float = 25.0) -> tuple[float, int]:
    """A local video's frame rate (`default_fps` where the container gives none that is plausible) and the frame
    count its container claims (0: none, or it cannot be opened), from the header alone."""
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            return default_fps, 0
        fps, count = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
    finally:
        cap.release()
    return (float(fps) if fps and 1.0 <= fps <= 240.0 else default_fps), max(0, int(count or 0))


def source_fps(rec: dict[str, Any], default: float = 25.0) -> float:
    """Frames per second of a record's source (its container's, for local or remote videos; else `default`):
    what the tracker's motion model and its patience with occlusions are timed in."""
    if rec.get("kind") != "video" or rec["source"].startswith(REMOTE_SCHEMES):  # not worth a download
        return default
    try:
        with local_file(rec["source"]) as path:
            return video_header(path, default)[0]
    except (OSError, IngestError):
        return default


def load_truth(uri: str) -> dict[str, np.ndarray]:
    """Ground truth of a synthetic sequence (see docs/synthetic-data.md): joints, boxes, silhouettes."""
    with local_file(uri) as path:
        return decode_truth(path)
