"""Stage 2 on silhouettes at real scale: clips streamed from the shards, P × K batches, validation on new people.

Nothing here holds the dataset: each epoch Ray Data reads the shards' files in a new order (per-epoch file
shuffling), the P × K sampler (train/sampler.py) draws batches from a bounded buffer, and each batch keeps a
random, unordered subset of every clip's frames (the set models' training recipe; at test they see all
frames). Every Ray Train worker streams the whole dataset with its own sampler seed, and an epoch is a fixed
number of steps (about one pass over the training clips between all workers), so that every worker takes the
same number of steps, as MultiWorkerMirroredStrategy's collectives need, with no wait at a pass's end.

Validation is on people the network never trained on (the `val` split holds whole subjects, e.g. CASIA-B's
063–074 with `val_subjects: 12`): their first nm walks as gallery (nm-01..04), their other walks as probes,
rank-1 across views with identical views left out (evaluate/protocol.py), the same measure as the test
figures. Rank-1 of the training people's own held-out walks says nothing about new people (0.996 there against
61% on new people).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from pipeline.evaluate.protocol import Sequences, cross_view_rank
from pipeline.train.config import TrainConfig
from pipeline.train.sampler import PKSampler

READ_BATCH = 256  # rows a Ray Data batch brings to the sampler


def random_subsets(clips: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """[B, T, …] → [B, frames, …]: each clip's own random frames, in random order (with repeats only when a
    clip is shorter than `frames`)."""
    b, t = clips.shape[:2]
    if frames <= 0 or frames == t:
        idx = np.argsort(rng.random((b, t)), axis=1)
    elif frames < t:
        idx = np.argsort(rng.random((b, t)), axis=1)[:, :frames]
    else:
        idx = rng.integers(0, t, (b, frames))
    return np.take_along_axis(clips, idx.reshape(b, -1, *([1] * (clips.ndim - 2))), axis=1)


def _rows(data: Any) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(clips, labels, sequence ids) from a Ray Dataset or a Ray Train worker's iterator, one pass."""
    for batch in data.iter_batches(batch_size=READ_BATCH, batch_format="numpy", prefetch_batches=2):
        yield batch["clip"], batch["label"], batch["sequence_id"]


def pk_stream(data: Any, cfg: TrainConfig, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless P × K batches (uint8 clips of `set_frames` random frames, labels), pass after pass."""
    sampler = PKSampler(cfg.sampler_p, cfg.sampler_k, cfg.sampler_buffer, seed)
    rng = np.random.default_rng(seed + 1)
    while True:
        made = 0
        for clips, labels in sampler.batches(_rows(data)):
            made += 1
            yield random_subsets(clips, cfg.set_frames, rng), labels
        if not made:
            raise ValueError(
                f"the training data cannot make one batch of {cfg.sampler_p} people × {cfg.sampler_k} sequences"
            )


def tf_pk_dataset(data: Any, cfg: TrainConfig, spec: dict[str, Any], seed: int) -> Any:
    """pk_stream as a tf.data.Dataset of (clips in [0, 1], {"parts": labels, "logits": labels})."""
    import tensorflow as tf

    h, w = spec["input_size"][1], spec["input_size"][0]
    n = cfg.sampler_p * cfg.sampler_k
    t = cfg.set_frames if cfg.set_frames > 0 else None
    signature = (tf.TensorSpec((n, t, h, w, 1), tf.uint8), tf.TensorSpec((n,), tf.int32))
    ds = tf.data.Dataset.from_generator(lambda: pk_stream(data, cfg, seed), output_signature=signature)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, {"parts": y, "logits": y}))
    options = tf.data.Options()
    # Each worker draws its own batches (its own seed): no sharding by TensorFlow.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(2)


def steps_per_epoch(train_clips: int, cfg: TrainConfig) -> int:
    """About one pass over the training clips, split over the workers."""
    per_step = cfg.sampler_p * cfg.sampler_k * max(1, cfg.workers)
    return max(1, train_clips // per_step)


def validation_rank1(embedder: Any, data: Any, batch: int = 16) -> dict[str, float]:
    """Rank-1 of the validation people (streamed once): gallery their first n_nm − 2 nm walks, probes the rest,
    across views with identical views left out; per condition and their mean (`val_rank1`, what training
    early-stops on)."""
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    labels: dict[str, tuple[str, str, int, int]] = {}
    for rows in data.iter_batches(batch_size=batch, batch_format="numpy", prefetch_batches=2):
        clips = rows["clip"].astype(np.float32) / 255.0
        vecs = np.asarray(embedder(clips, training=False))
        for i, sid in enumerate(rows["sequence_id"]):
            sid = str(sid)
            sums[sid] = sums.get(sid, 0) + vecs[i]
            counts[sid] = counts.get(sid, 0) + 1
            row = (rows["subject"][i], rows["condition"][i], rows["sequence"][i], rows["view"][i])
            labels[sid] = (str(row[0]), str(row[1]), int(row[2]), int(row[3]))
    if not sums:
        return {}
    ids = sorted(sums)
    vecs = np.stack([sums[s] / counts[s] for s in ids])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-12
    subj, cond, seq, view = (np.array(v) for v in zip(*(labels[s] for s in ids), strict=True))
    gallery = np.zeros(len(ids), bool)
    for person in np.unique(subj):  # the first n_nm − 2 nm walks (CASIA-B: nm-01..04), as the test protocol
        nm = np.unique(seq[(subj == person) & (cond == "nm")])
        gallery |= (subj == person) & (cond == "nm") & np.isin(seq, nm[: max(1, len(nm) - 2)])
    if not gallery.any() or gallery.all():
        return {}
    g = Sequences(vecs[gallery], subj[gallery], cond[gallery], view[gallery])
    p = Sequences(vecs[~gallery], subj[~gallery], cond[~gallery], view[~gallery])
    results = cross_view_rank(g, p)
    out = {f"val_rank1_{c}": float(r.rank1) for c, r in results.items()}
    out["val_rank1"] = float(np.mean(list(out.values())))
    return out
