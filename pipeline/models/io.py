"""Model files: atomic `.keras` (Keras v3 format) saving, loading with the custom layers, content versions."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import tf_keras as keras

import pipeline.models.layers  # noqa: F401  (registers the custom layers before any file is loaded)
from pipeline.common.atomic import temp_sibling

VERSION_FILE = "version"
REPORTS_DIR = "evaluation"  # written by `gait evaluate` into the model directory: about the model, not part of it
_CHUNK = 1 << 20


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Writes `path` (must end in `.keras`) in the Keras v3 format, atomically: beside it first, then renamed.
    The format is explicit because tf-keras writes HDF5 to a `.keras` path when saving off the main thread."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model files end in .keras, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with temp_sibling(path, f"{threading.get_ident()}.tmp.keras") as tmp:
        model.save(tmp, save_format="keras_v3")
        os.replace(tmp, path)
    return path


def load_model(path: str | Path) -> keras.Model:
    """A model saved by `save_model`, uncompiled (training code compiles its own)."""
    return keras.models.load_model(str(path), compile=False)


def directory_version(path: str | Path) -> str:
    """A content hash of a directory: sha256 over the sorted relative names and bytes of every file under it,
    first 16 hex characters. A top-level `version` file is left out, so the hash of a model directory can be
    written into it and checked later, and so are the evaluation reports kept beside the model."""
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(str(root))
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for rel, file in files:
        if rel == VERSION_FILE or rel.startswith(REPORTS_DIR + "/"):
            continue
        digest.update(rel.encode() + b"\0" + file.stat().st_size.to_bytes(8, "big"))
        with file.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()[:16]
