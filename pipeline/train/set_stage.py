"""The "set" stage: a silhouette network trained the field's way (train/streaming.py feeds it).

The network is the set model (models/set_net.py) or, for a measurement on the same data and recipe, the seed's
recurrent GaitNN behind the silhouette encoder, its branches taken as strips. Either way the training model
has two outputs: `parts` for the batch-all triplet loss and `logits` (per-strip cosines behind a batch norm
neck) for the softmax; the product is the embedder, clips [B, T, H, W, 1] in [0, 1] → a unit vector.
"""

from __future__ import annotations

from typing import Any

from pipeline.ingest.shards import read_clips, split_counts
from pipeline.train.config import TrainConfig
from pipeline.train.data import VAL_SPLITS, clips_with_labels
from pipeline.train.streaming import steps_per_epoch, validation_rank1


def _recurrent_net(cfg: TrainConfig, hw: tuple[int, int]) -> Any:
    """Silhouette encoder → GaitNN, with its vector also as `parts` [B, branches, D]."""
    import tf_keras as keras

    from pipeline.models import gait, silhouette

    encoder = silhouette.build_silhouette_encoder(hw, cfg.feature_channels)
    fshape = (hw[0] // 4, hw[1] // 4, cfg.feature_channels)
    gnet = gait.build_gait_net(fshape, **cfg.gait_net_options())
    embedder = gait.build_embedder(encoder, gnet, (*hw, 1))
    parts = keras.layers.Reshape((cfg.branches, -1), name="parts")(embedder.output)
    return keras.Model(embedder.inputs, {"parts": parts, "embedding": embedder.output}, name="gaitnn_parts")


def build_network(cfg: TrainConfig, input_size: tuple[int, int] | list[int]) -> Any:
    """The network with outputs `parts` and `embedding`; `input_size` is (width, height), as in the shards."""
    from pipeline.models import set_net

    hw = (int(input_size[1]), int(input_size[0]))
    if cfg.gait_model == "set":
        return set_net.build_set_net(hw, cfg.set_widths, cfg.set_stem_stride, cfg.set_bins, cfg.set_part_dim)
    return _recurrent_net(cfg, hw)


def build_set_stage(cfg: TrainConfig, spec: dict[str, Any]) -> tuple[Any, Any]:
    """(training model, compiled; the embedder, whose weights are the stage's product)."""
    import tf_keras as keras

    from pipeline.models import set_net

    net = build_network(cfg, spec["input_size"])
    embedder = set_net.embedder(net)
    if "num_classes" not in spec:  # rebuilding the product only (evaluation, the driver's copy)
        return embedder, embedder
    training = set_net.build_set_classifier(net, spec["num_classes"])
    training.compile(
        optimizer=keras.optimizers.Adam(cfg.gait.learning_rate),
        loss={"parts": set_net.batch_all_triplet_loss(cfg.triplet_margin), "logits": set_net.part_softmax_loss()},
        metrics={"logits": [set_net.part_accuracy]},
    )
    return training, embedder


def validation_callback(clone: Any, product: Any, val: Any) -> Any:
    """After each epoch, rank-1 of the validation people (streaming.validation_rank1) into the epoch's logs,
    computed on a local copy of the embedder (no collective ops)."""
    import tf_keras as keras

    class Validation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if logs is None or val is None:
                return
            clone.set_weights(product.get_weights())
            measures = validation_rank1(clone, val)
            logs.update(measures)
            if measures:
                names = {k: k.removeprefix("val_rank1").lstrip("_").upper() or "mean" for k in measures}
                figures = " ".join(f"{names[k]} {v:.3f}" for k, v in measures.items())
                print(f"epoch {epoch + 1}: rank-1 of the validation people {figures}", flush=True)

    return Validation()


# -- the driver's side ----------------------------------------------------------------------------------------
VAL_CLIPS_PER_SEQUENCE = 2


def datasets(shards: str, classes: list[str], column: str, seed: int) -> dict[str, Any]:
    """Lazy Ray Datasets: `train` (clips and labels of the training people, files in a new order each epoch)
    and `val` (the validation people's clips with what the protocol needs); nothing is materialised."""
    from ray.data.expressions import col

    index = {s: i for i, s in enumerate(classes)}
    train = read_clips(shards, [column, "subject", "sequence_id", "condition"], ["train"], shuffle_seed=seed)
    train = train.filter(expr=col("subject").is_in(list(index)))  # pushed down to the Parquet reader
    train = train.map_batches(clips_with_labels, fn_kwargs={"classes": index, "column": column}, batch_format="numpy")
    columns = [column, "subject", "sequence_id", "condition", "sequence", "view", "clip_index"]
    val = read_clips(shards, columns, list(VAL_SPLITS))
    # Each epoch's validation takes a sequence's first two clips (CASIA-B: 60 of its ~80 frames): a tenth of an
    # epoch's time instead of half; the test figures (`gait evaluate`) use every clip.
    val = val.filter(expr=col("clip_index") < VAL_CLIPS_PER_SEQUENCE)
    val = val.map_batches(_val_clips, fn_kwargs={"column": column}, batch_format="numpy")
    return {"train": train, "val": val}


def _val_clips(batch: dict[str, Any], column: str) -> dict[str, Any]:
    clips = batch.pop(column)
    return {**batch, "clip": clips[..., None] if clips.ndim == 4 else clips}


def steps(shards: str, cfg: TrainConfig) -> int:
    """Steps of a P × K epoch: cfg.steps_per_epoch, or about one pass over the training clips."""
    return cfg.steps_per_epoch or steps_per_epoch(split_counts(shards, "train")[0], cfg)


def best_validation(history: list[dict[str, Any]], shards: str | None = None) -> dict[str, Any]:
    """The figures of the epoch kept (the best validation rank-1 on new people), for metrics.json."""
    rows = [r for r in history if "val_rank1" in r]
    if not rows:
        return {}
    best = max(rows, key=lambda r: r["val_rank1"])
    out: dict[str, Any] = {f"set_{k}": float(v) for k, v in best.items() if k.startswith("val_rank1")}
    out["set_best_epoch"] = int(best["epoch"]) + 1
    if shards is not None:
        out["set_val_people"] = split_counts(shards, "val")[1]
    return out
