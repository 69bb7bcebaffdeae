"""Training data from the shards, as Ray Datasets of fixed-shape NumPy columns.

Decoding and frame selection run as Ray Data tasks, and the (small) results are materialised before Ray Train
starts: Train workers may then hold every CPU without starving a Ray Data stage of the ones it needs.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipeline.common.storage import resolve
from pipeline.ingest.decode import load_truth, video_frames
from pipeline.ingest.shards import read_clips

TRAIN_SPLITS = ("train",)
VAL_SPLITS = ("val",)


def label_map(shards: str) -> list[str]:
    """The training subjects, sorted: class i of the softmax is subject label_map[i]."""
    fs, path = resolve(shards)
    with fs.open_input_file(f"{path.rstrip('/')}/manifest.parquet") as fh:
        table = pq.read_table(fh, columns=["subject", "split", "error_type"])
    rows = table.to_pylist()
    return sorted({r["subject"] for r in rows if r["split"] == "train" and r["error_type"] is None and r["subject"]})


def _pick_frames(batch: dict[str, np.ndarray], per_clip: int) -> dict[str, np.ndarray]:
    """A few evenly spaced frames of each clip (clips overlap, so every frame would repeat)."""
    frames, joints = batch["frames"], batch["joints"]
    t = frames.shape[1]
    idx = np.linspace(0, t - 1, min(per_clip, t)).round().astype(int)
    return {
        "image": frames[:, idx].reshape((-1, *frames.shape[2:])),
        "joints": joints[:, idx].reshape((-1, *joints.shape[2:])).astype(np.float32),
    }


def pose_dataset(shards: str, splits: tuple[str, ...], per_clip: int) -> Any:
    """Frames with their joints, for stage 1 (HumanPoseNN)."""
    ds = read_clips(shards, columns=["frames", "joints"], splits=splits)
    return ds.map_batches(_pick_frames, fn_kwargs={"per_clip": per_clip}, batch_format="numpy").materialize()


def clips_with_labels(batch: dict[str, np.ndarray], classes: dict[str, int], column: str) -> dict[str, np.ndarray]:
    clips = batch[column]
    if clips.ndim == 4:  # silhouettes [B, T, H, W] → [B, T, H, W, 1]
        clips = clips[..., None]
    return {
        "clip": clips,
        "label": np.array([classes[s] for s in batch["subject"]], np.int32),
        # Carried along for the sequence rank-1 after training (train/run.py); to_tf leaves them out.
        "sequence_id": batch["sequence_id"],
        "condition": batch["condition"],
    }


def gait_dataset(
    shards: str,
    splits: tuple[str, ...],
    classes: list[str],
    column: str = "frames",
    materialize: bool = True,
    shuffle_seed: int | None = None,
) -> Any:
    """Clips with the index of their subject, for stage 2 (GaitNN); only subjects of `classes`. Left lazy
    (materialize=False) when a further stage (train/features.py) consumes it.

    With `shuffle_seed`, the rows are shuffled across the whole dataset once: shards hold each person's clips
    together, and a training loop's local shuffle buffer alone then feeds batches of a few people, which a
    softmax over 36 people (and batch norm) does not learn from (chance accuracy after 8 demo epochs)."""
    index = {s: i for i, s in enumerate(classes)}
    ds = read_clips(shards, columns=[column, "subject", "sequence_id", "condition"], splits=splits)
    with warnings.catch_warnings():
        # Ray suggests an expression filter here; it reads the same rows in another order, and the preset's
        # accuracy was measured on this one (docs/benchmarks.md, "The expression filter, taken back out").
        warnings.filterwarnings("ignore", message="Use 'expr' instead of 'fn'", category=UserWarning)
        ds = ds.filter(lambda row: row["subject"] in index)
    ds = ds.map_batches(clips_with_labels, fn_kwargs={"classes": index, "column": column}, batch_format="numpy")
    if shuffle_seed is not None:
        ds = ds.random_shuffle(seed=shuffle_seed)
    return ds.materialize() if materialize else ds


def presence_items(shards: str) -> list[dict[str, Any]]:
    """What the presence classifier learns from: frames of the walks (person present where the ground truth or
    the preprocessing found one) and of the background plates (nobody), split by the walks' subjects."""
    fs, path = resolve(shards)
    with fs.open_input_file(f"{path.rstrip('/')}/manifest.parquet") as fh:
        rows = pq.read_table(fh).to_pylist()
    items, plates = [], set()
    for r in rows:
        if r["error_type"] is not None or r["kind"] != "video":
            continue
        split = "val" if r["split"] in ("val", "gallery", "probe") else "train"
        items.append({"source": r["source"], "annotation": r["annotation"], "plate": False, "split": split})
        if r["background"] and r["background"] not in plates:
            plates.add(r["background"])
            items.append({"source": r["background"], "annotation": None, "plate": True, "split": split})
    return items


def _presence_frames(batch: dict[str, np.ndarray], per_video: int, size: tuple[int, int]) -> dict[str, np.ndarray]:
    import cv2

    images, labels = [], []
    for source, annotation, plate in zip(batch["source"], batch["annotation"], batch["plate"], strict=True):
        frames = list(video_frames(str(source), 10**9))
        # Plates give more frames per video: there are fewer of them than walks.
        n = per_video * (3 if plate else 1)
        idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
        boxes = load_truth(str(annotation))["boxes"] if annotation else None
        h = frames[0].shape[0]
        for i in idx:
            if plate:
                present = 0.0
            elif boxes is not None:
                b = boxes[i]
                # Present when enough of the person is in view to be seen: a box of 15% of the frame's height.
                present = 0.0 if np.isnan(b).any() or (b[3] - b[1]) < 0.15 * h else 1.0
            else:
                present = 1.0
            images.append(cv2.cvtColor(cv2.resize(frames[i], size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
            labels.append(present)
    return {"image": np.stack(images), "label": np.array(labels, np.float32)}


def presence_dataset(shards: str, split: str, frames_per_video: int, size: tuple[int, int] = (64, 64)) -> Any:
    """Whole frames (resized) labelled person present / absent."""
    import ray

    items = [i for i in presence_items(shards) if i["split"] == split]
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 64)))
    return ds.map_batches(
        _presence_frames, batch_size=8, fn_kwargs={"per_video": frames_per_video, "size": size}, batch_format="numpy"
    ).materialize()
