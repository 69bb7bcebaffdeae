"""A stage's checkpoints: the files in one, and finding the most advanced one a run left in storage.

Shared by the loop that writes them (loops.py), the session that resumes from them (session.py) and the trainer
that collects the final one (trainer.py), so none of those imports another for them.
"""

from __future__ import annotations

import json

# Keras v3 weights (the ".weights.h5" suffix): saved by each layer's path in the model, so nested models and
# repeated layer names (three GaitNN branches around one silhouette encoder) save and load; legacy HDF5 by layer
# name failed on them ("Unable to synchronously create dataset (name already exists)").
WEIGHTS = "model.weights.h5"
STATE = "state.json"


def checkpoint_progress(path: str) -> tuple[int, bool]:
    """(epochs done, final) of a checkpoint directory or URI; (-1, False) when its state cannot be read."""
    from pipeline.common.storage import resolve

    fs, p = resolve(path)
    try:
        with fs.open_input_stream(f"{p.rstrip('/')}/{STATE}") as fh:
            state = json.loads(fh.read())
    except (FileNotFoundError, OSError, ValueError):
        return (-1, False)
    return (len(state["history"]), bool(state["final"]))


def latest_checkpoint(storage_path: str, name: str) -> str | None:
    """The most advanced checkpoint an earlier run of `name` left in `storage_path` (None if none): Ray Train
    resumes from checkpoints within a run; a re-run of a stopped job is resumed from here."""
    import pyarrow.fs as pafs

    from pipeline.common.storage import resolve, to_uri

    fs, root = resolve(storage_path)
    run = f"{root.rstrip('/')}/{name}"
    if fs.get_file_info(run).type != pafs.FileType.Directory:
        return None
    best, best_key = None, (-1, False)
    for info in fs.get_file_info(pafs.FileSelector(run)):
        if info.type != pafs.FileType.Directory or not info.base_name.startswith("checkpoint_"):
            continue
        key = checkpoint_progress(to_uri(fs, info.path))  # (-1, False): an incomplete upload
        if key > best_key:
            best, best_key = info.path, key
    return to_uri(fs, best) if best else None
