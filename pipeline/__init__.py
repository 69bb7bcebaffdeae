"""Gait recognition as a Ray pipeline: synth → ingest → models/train → identify → evaluate → serve."""

import os

# The one TensorFlow gateway. tf-keras (Keras 2) is the Keras of this project: Keras 3 breaks under
# MultiWorkerMirroredStrategy with two or more workers. The switch only works if it is set before TensorFlow is
# first imported, and every module of the project imports this package first, so it is set here, once; Ray
# workers and Serve replicas get KERAS_MODE through `pipeline.common.ray_init.runtime_env()` and the Serve
# application's runtime_env. No module imports TensorFlow for its side effects, or sets the mode itself.
KERAS_MODE = {"TF_USE_LEGACY_KERAS": "1"}
for _key, _value in KERAS_MODE.items():
    os.environ.setdefault(_key, _value)
# Ray Data's Parquet listing starts up to 32 footer-reading actors (~150 MB each): a few (pipeline/common/ray_init.py).
os.environ.setdefault("RAY_DATA_PARQUET_FOOTER_NUM_ACTORS", "4")

__version__ = "0.1.0"
