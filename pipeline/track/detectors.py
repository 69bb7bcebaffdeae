"""The table of person detectors: a name (`--detector`) → a fresh detector for one source.

Kept apart from the interface (detection.py) so that the detectors import the interface and the table imports
the detectors, never the other way round.
"""

from __future__ import annotations

from typing import Any

from pipeline.track.detection import Detector
from pipeline.track.foreground import ForegroundDetector
from pipeline.track.hog import HogDetector
from pipeline.track.onnx_detector import OnnxDetector  # onnxruntime itself loads only when one is made

DETECTORS = ("background", "hog", "onnx")  # names accepted by make_detector (and by --detector)


def make_detector(name: str, **options: Any) -> Detector:
    """A fresh detector (one per source: background models are per camera). Options: see each class."""
    if name == "background":
        return ForegroundDetector(**options)
    if name == "hog":
        return HogDetector(**options)
    if name == "onnx":
        return OnnxDetector(**options)
    raise ValueError(f"unknown detector {name!r}; known: {', '.join(DETECTORS)}")
