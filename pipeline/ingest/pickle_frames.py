"""Frames of an OpenGait sequence folder (`ID/TYPE/VIEW/*.pkl`): its silhouettes, unpickled safely.

OpenGait packs a sequence as one or more pickles, each a parallel modality of the same frames (silhouettes,
and in some datasets RGB crops, poses, …), loaded in name order. The silhouettes are the first array, in that
order (pickles by name, then the items of a pickled list), that is uint8 or bool [T,H,W] (or [T,H,W,1]); the
pickles after it are never opened. Only when there is none does a [T,H,W,3] array serve, turned grey. Each
pickle is read and unpickled once per sequence and the frames are handed on one by one as BGR, the way a
CASIA-B silhouette PNG is, so both go through the same person finding, crop and alignment.
See docs/data-layouts.md.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

import cv2
import numpy as np

from pipeline.common import storage
from pipeline.ingest.errors import IngestError
from pipeline.ingest.safe_pickle import NotArrays, UnsafePickle, load_arrays


def _describe(a: np.ndarray) -> str:
    return f"{a.dtype} {list(a.shape)}"


def _channels(a: np.ndarray) -> int | None:
    """1 for a silhouette array (uint8 or bool [T,H,W] or [T,H,W,1]), 3 for [T,H,W,3], None for anything else."""
    if a.dtype not in (np.uint8, np.bool_) or a.ndim not in (3, 4):
        return None
    c = 1 if a.ndim == 3 else a.shape[3]
    return c if c in (1, 3) else None


def _as_silhouettes(a: np.ndarray) -> np.ndarray:
    """[T,H,W] uint8 (0–255) from an array `_channels` accepts. Bool and 0/1 masks become 0/255; [T,H,W,1] drops
    the channel; [T,H,W,3] becomes grey (ITU-R 601 luma, channels taken as RGB)."""
    if a.dtype == np.bool_:
        a = a.view(np.uint8) * np.uint8(255)
    elif a.size and a.max() <= 1:
        a = a * np.uint8(255)
    if a.ndim == 4:
        t, h, w, c = a.shape
        if c == 1 or a.size == 0:
            a = a[..., 0]
        else:  # one OpenCV call for the whole sequence
            a = cv2.cvtColor(np.ascontiguousarray(a).reshape(t * h, w, 3), cv2.COLOR_RGB2GRAY).reshape(t, h, w)
    return a


def _load(uri: str) -> list[np.ndarray]:
    """The arrays of one pickle, or an IngestError that names the file and why it was refused."""
    name = posixpath.basename(uri)
    fs, path = storage.resolve(uri)
    try:
        data = storage.read_bytes(fs, path)
    except FileNotFoundError as exc:
        raise IngestError("open", "FileNotFoundError", f"{name} does not exist (any more)") from exc
    except PermissionError as exc:
        raise IngestError("open", "PermissionError", f"permission denied: {name} cannot be read") from exc
    if not data:
        raise IngestError("open", "EmptyFile", f"{name} is empty (0 bytes)")
    try:
        return load_arrays(data)
    except UnsafePickle as exc:
        raise IngestError("decode", "UnsafePickle", f"{name}: {exc}") from exc
    except NotArrays as exc:
        raise IngestError("decode", "NotAnArray", f"{name} {exc}") from exc
    except Exception as exc:  # a corrupt pickle fails in many ways (EOFError, UnpicklingError, ValueError, …)
        raise IngestError(
            "decode", "UnreadablePickle", f"{name} is not a readable pickle (truncated or corrupt): {exc}"
        ) from exc


def silhouette_array(uris: list[str]) -> np.ndarray:
    """The sequence's silhouettes [T,H,W] uint8 (see the module doc for which array)."""
    seen, colour = [], None
    for uri in sorted(uris, key=posixpath.basename):
        for a in _load(uri):
            channels = _channels(a)
            if channels == 1:
                return _as_silhouettes(a)
            if channels == 3 and colour is None:
                colour = a
            seen.append(f"{posixpath.basename(uri)} holds {_describe(a)}")
    if colour is not None:
        return _as_silhouettes(colour)
    raise IngestError(
        "decode",
        "NoSilhouettes",
        "no uint8 or bool [T,H,W] (or [T,H,W,1|3]) array: " + "; ".join(seen),
    )


def pickle_frames(uris: list[str], max_pixels: int, max_frames: int = 0) -> Iterator[np.ndarray]:
    """BGR frames of a sequence folder's silhouettes, after the size check."""
    sil = silhouette_array(uris)
    t, h, w = sil.shape
    if w * h > max_pixels:
        too_large = f"frames are {w}x{h} = {w * h} pixels, over the limit of {max_pixels} (max_pixels)"
        raise IngestError("decode", "FrameTooLarge", too_large)
    if t == 0:
        raise IngestError("decode", "NoFrames", "the silhouette array holds no frame")
    for frame in sil[:max_frames] if max_frames else sil:
        yield cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
