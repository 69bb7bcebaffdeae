"""A stage's checkpoints: the files in one, writing them after each epoch, resuming from one, and finding the
most advanced one a run left in storage.

After each epoch rank 0 saves the weights and the loop state into a checkpoint that the session reports (Ray
Train keeps it); a restarted worker group, or a re-run with the same name and storage path, resumes from the
last one. The last report carries the best weights. Shared by the loop that writes them (loops.py), the
session that resumes from them (session.py) and the trainer that collects the final one (trainer.py), so none
of those imports another for them.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from pipeline.common.storage import resolve, to_uri

# Keras v3 weights (the ".weights.h5" suffix): saved by each layer's path in the model, so nested models and
# repeated layer names (three GaitNN branches around one silhouette encoder) save and load; legacy HDF5 by layer
# name failed on them ("Unable to synchronously create dataset (name already exists)").
WEIGHTS = "model.weights.h5"
STATE = "state.json"


def checkpoint_progress(path: str) -> tuple[int, bool]:
    """(epochs done, final) of a checkpoint directory or URI; (-1, False) when its state cannot be read."""
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


def report_state(session: Any, product: Any, clone: Any, history: list[dict], final: bool) -> None:
    """Every rank reads the weights (under MultiWorkerMirroredStrategy, batch norm's moving statistics are
    sync-on-read: reading them is an all-reduce, and a rank reading alone would wait for the others forever);
    rank 0 then saves them through its local copy of the model and hands the checkpoint to Ray Train."""
    weights = product.get_weights()
    metrics = dict(history[-1]) if history else {}
    metrics["final"] = final
    if session.world_rank != 0:
        session.report(metrics)
        return
    clone.set_weights(weights)
    with tempfile.TemporaryDirectory(prefix="gait-ckpt-") as d:
        clone.save_weights(str(Path(d) / WEIGHTS))
        (Path(d) / STATE).write_text(json.dumps({"history": history, "final": final}))
        session.report(metrics, Path(d))


def resume(session: Any, model: Any, product: Any, clone: Any) -> tuple[list[dict], bool]:
    """(history so far, whether the stage already finished) from the session's checkpoint, its weights loaded
    into `product` and its learning rate into `model`'s optimizer; ([], False) with none. A finished stage
    reports its result again, so that this attempt ends with it too."""
    import tf_keras as keras

    with session.checkpoint() as ckpt:
        if ckpt is None:
            return [], False
        product.load_weights(str(ckpt / WEIGHTS))
        state = json.loads((ckpt / STATE).read_text())
        history = state["history"]
        if state["final"]:  # this stage already finished: hand its result on again
            report_state(session, product, clone, history, final=True)
            return history, True
        keras.backend.set_value(model.optimizer.learning_rate, history[-1]["lr"])
        return history, False


def checkpoint_callback(
    session: Any, product: Any, clone: Any, optimizer: Any, history: list[dict], start_epoch: int
) -> Any:
    """A Keras callback: after each epoch, the epoch's row into `history` and a checkpoint reported (rank 0
    writes weights and loop state; everybody reports)."""
    import tf_keras as keras

    class Report(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            row = {k: float(v) for k, v in (logs or {}).items()}
            row.update(epoch=epoch, lr=float(keras.backend.get_value(optimizer.learning_rate)))
            row["epoch_seconds"] = time.perf_counter() - self.t0  # training and validation
            row["start_epoch"] = start_epoch  # where this attempt began: > 0 after a resume
            history.append(row)
            report_state(session, product, clone, history, final=False)

    return Report()
