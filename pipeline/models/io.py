"""Model files: atomic `.keras` (Keras v3 format) saving, and loading with the custom layers registered.

The directory these files sit in (its layout, version and publishing) is `pipeline.common.model_dir`."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import tf_keras as keras

import pipeline.models.layers  # noqa: F401  (registers the custom layers before any file is loaded)
from pipeline.common.atomic import temp_sibling


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
