"""Gait recognition as a Ray pipeline: synth → ingest → models/train → identify → evaluate → serve."""

import os

# tf-keras (Keras 2) is the Keras of this project: Keras 3 breaks under MultiWorkerMirroredStrategy with two
# or more workers. The switch only works if it is set before TensorFlow is first imported, so the package sets
# it on import; Ray workers and replicas get it through `pipeline.common.ray_init.runtime_env()`.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# Ray Data's Parquet listing starts up to 32 footer-reading actors (~150 MB each): a few (pipeline/common/ray_init.py).
os.environ.setdefault("RAY_DATA_PARQUET_FOOTER_NUM_ACTORS", "4")

__version__ = "0.1.0"
