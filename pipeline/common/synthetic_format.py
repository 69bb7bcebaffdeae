"""The synthetic dataset's on-disk format, shared by its writer (`gait synth`) and its reader (`gait preprocess`).

A dataset is a CASIA-B-style tree with `dataset.json` at its root (`"format": "gait-synth"`, one entry per
sequence: id, subject, condition, sequence, view, and the relative paths of its video or frame folder and of its
annotation). Each sequence's ground truth is one `.npz`: joints [T, 16, 3], boxes [T, 4] and the silhouettes as
bits packed along the last axis with their shape beside them (a 36-frame 128×128 sequence is 74 KB, not 590).
Docs: docs/synthetic-data.md.
"""

from __future__ import annotations

import io
from typing import IO, Any

import numpy as np

FORMAT = "gait-synth"
FORMAT_VERSION = 1
INDEX_FILE = "dataset.json"


def is_synthetic_index(meta: Any) -> bool:
    """A parsed dataset.json that this format wrote."""
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def encode_truth(joints: np.ndarray, boxes: np.ndarray, masks: np.ndarray) -> bytes:
    """One sequence's ground truth as the bytes of its annotation `.npz`."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        joints=joints,
        boxes=boxes,
        silhouettes=np.packbits(masks > 0, axis=-1),
        silhouette_shape=np.array(masks.shape, np.int32),
    )
    return buf.getvalue()


def decode_truth(file: str | IO[bytes]) -> dict[str, np.ndarray]:
    """joints [T, 16, 3], boxes [T, 4] and silhouettes uint8 0/1 [T, H, W] from an annotation `.npz`."""
    with np.load(file, allow_pickle=False) as z:
        shape = tuple(int(x) for x in z["silhouette_shape"])
        sil = np.unpackbits(z["silhouettes"], axis=-1, count=shape[-1]).reshape(shape)
        return {"joints": z["joints"], "boxes": z["boxes"], "silhouettes": sil}
