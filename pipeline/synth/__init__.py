"""Synthetic gait videos with ground truth: an articulated 3-D walker, a pinhole camera, a textured scene.

Real gait datasets are licence-gated, so every stage is developed and tested on this generator. It writes the
CASIA-B (or CASIA-A) file layout so that the same loaders read real and synthetic data.
"""

from pipeline.synth.config import PRESETS, SynthConfig
from pipeline.synth.generate import GenerationSummary, generate_dataset

__all__ = ["PRESETS", "GenerationSummary", "SynthConfig", "generate_dataset"]
