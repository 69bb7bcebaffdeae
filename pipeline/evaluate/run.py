"""`gait evaluate`: the network (and the GEI baseline) under the dataset's protocol → metrics.json + report.html.

Splits come from the shards (their manifest says which sequences are gallery, probe or validation, and every
protocol keeps test subjects out of training). The network's vectors come from a gallery made by `gait index`
over the same archive (`--gallery`), or are computed here from the shards' clips with the same Ray Data actor.
Reported, for the network and the baseline side by side: rank-1..5 and mAP per condition and per probe view
(cross-view, identical views left out), verification ROC / EER / TAR@FAR, and for the network the linear SVM's
accuracy, closed and open set, and the serving endpoint's open-set rule with the threshold `gait serve` then
uses (pipeline.evaluate.open_set).

Nothing here holds every clip at once: the network's vectors and the GEIs are gathered batch by batch into one
running sum per sequence (pipeline.evaluate.vectors, pipeline.evaluate.gei), so memory grows with the number of
sequences, not of clips; only the gallery and validation clips' vectors are kept whole, for the SVM.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipeline.common.atomic import atomic_write_json
from pipeline.common.model_dir import REPORTS_DIR, ModelInfo, upload_dir, write_strangers
from pipeline.common.read_ahead import limit_read_ahead
from pipeline.common.storage import is_remote, join, resolve
from pipeline.evaluate.gei import GeiBaseline, stream_geis
from pipeline.evaluate.open_set import open_set
from pipeline.evaluate.protocol import ConditionResult, Sequences, cross_view_rank
from pipeline.evaluate.report import write_report
from pipeline.evaluate.vectors import ClipVectors, SequenceVectors
from pipeline.evaluate.verification import Verification, verification
from pipeline.identify.embed import ClipEmbedder
from pipeline.identify.gallery import read_gallery
from pipeline.identify.svm import UNKNOWN, fit_svm
from pipeline.ingest.shards import read_clips, read_meta

CONDITION_ORDER = ("nm", "bg", "cl", "sh")
FARS = (1e-2, 1e-3)
# Object-store bytes the embedding pipeline may hold at once, per embedding actor (clips read ahead of the actors,
# vectors not yet consumed; at least two actors' worth). Ray Data's default budget is a share of the node's object
# store, so on a big node it would read GBs of frames ahead of actors that cannot keep up.
EMBED_BUFFER_BYTES_PER_ACTOR = 256 * 2**20
GEI_SPLITS = ["train", "val", "gallery", "probe"]  # PCA + LDA fitted on train + val; matched on gallery, probe
MAP_DEFINITION = (
    "per (probe view, gallery view) pair, views different: AP of each probe over that view's gallery sequences "
    "ranked by Euclidean distance, AP = (1/R) sum_k precision@k * [k-th is the same subject], R = the subject's "
    "sequences there (probes with R = 0 left out); mean AP per pair, averaged over gallery views per probe view, "
    "then over probe views, exactly as rank-1"
)


MANIFEST_COLUMNS = ["sequence_id", "split", "subject", "condition", "view", "clips", "error_type"]


def load_manifest(shards: str) -> dict[str, dict[str, Any]]:
    """sequence_id → the manifest row (split, subject, condition, view, clips) of every sequence that was written
    (only those columns: a frame folder's row also lists every frame file)."""
    fs, path = resolve(shards)
    table = pq.read_table(f"{path.rstrip('/')}/manifest.parquet", filesystem=fs, columns=MANIFEST_COLUMNS)
    return {r["sequence_id"]: r for r in table.to_pylist() if r.get("error_type") is None}


def embed_shards(
    model: ModelInfo,
    shards: str,
    splits: list[str],
    split_of: dict[str, str],
    actors: int = 1,
    gpus: float = 0.0,
) -> SequenceVectors:
    """Every clip of `splits` through the embedder, as Ray Data batch inference, streamed into per-sequence sums
    (`split_of`: sequence_id → split, which says whose clip vectors the SVM needs kept)."""
    import ray

    from pipeline.common.ray_init import ensure_ray

    ensure_ray()
    ds = read_clips(shards, columns=["sequence_id", "clip_index", model.column], splits=splits, decode=False)
    ds = ds.map_batches(
        ClipEmbedder,
        fn_constructor_kwargs={"model_dir": model.uri, "threads": 0},  # actors fetch a URI on their own node
        batch_size=64,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, actors)),
        num_cpus=1,
        num_gpus=gpus,
    )
    limit_read_ahead(ds, EMBED_BUFFER_BYTES_PER_ACTOR * max(2, actors))
    acc = SequenceVectors(split_of)
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        acc.add(np.asarray(batch["sequence_id"].to_pylist(), dtype=object), _vectors(batch["embedding"]))
    return acc


def _vectors(column: Any) -> np.ndarray:
    """A fixed-size-list column of vectors → [N, D] float32 (`flatten` honours a sliced array's offset)."""
    col = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    return np.asarray(col.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(len(col), -1)


def gallery_vectors(model: ModelInfo, gallery: str, split_of: dict[str, str]) -> SequenceVectors:
    """Clip vectors from a gallery made by `gait index` with this model, as per-sequence sums."""

    table = read_gallery(gallery, model.version, columns=["sequence_id", "clip_index", "embedding"])
    clips = table.filter(table["clip_index"].to_numpy() >= 0)
    del table
    acc = SequenceVectors(split_of)
    for batch in clips.to_batches(max_chunksize=4096):
        acc.add(np.asarray(batch["sequence_id"].to_pylist(), dtype=object), _vectors(batch["embedding"]))
    return acc


def _sequences(ids: list[str], vecs: np.ndarray, manifest: dict[str, dict[str, Any]]) -> Sequences:
    return Sequences(
        vecs,
        np.array([manifest[i]["subject"] for i in ids]),
        np.array([manifest[i]["condition"] or "any" for i in ids]),
        np.array([manifest[i]["view"] for i in ids], dtype=object),
        np.array(ids, dtype=object),
    )


def _split_sequences(means: dict[str, np.ndarray], manifest: dict[str, dict[str, Any]], split: str) -> Sequences:
    ids = sorted(i for i in means if i in manifest and manifest[i]["split"] == split)
    dim = len(next(iter(means.values()))) if means else 0
    vecs = np.stack([means[i] for i in ids]) if ids else np.zeros((0, dim), np.float32)
    return _sequences(ids, vecs, manifest)


def ordered_conditions(conditions: set[str]) -> list[str]:
    return [c for c in CONDITION_ORDER if c in conditions] + sorted(conditions - set(CONDITION_ORDER))


def _method_metrics(
    gallery: Sequences, probes: Sequences, conditions: list[str]
) -> tuple[dict[str, ConditionResult], Verification]:
    return cross_view_rank(gallery, probes, conditions), verification(gallery, probes)


def svm_metrics(
    clips: ClipVectors, manifest: dict[str, dict[str, Any]], probes: Sequences, far: float
) -> tuple[dict[str, Any], Any]:
    """The linear SVM enrolled on the gallery's clip vectors; threshold from the validation sequences (people
    who are not enrolled); accuracy on probe sequences, closed and open set, per condition."""

    split = np.array([manifest.get(s, {}).get("split") for s in clips.sequence_ids])
    enrol = split == "gallery"
    subjects = np.array([manifest[s]["subject"] for s in clips.sequence_ids[enrol]])
    impostors = clips.vectors[split == "val"]
    model = fit_svm(clips.vectors[enrol], subjects, impostors=impostors if len(impostors) else None, target_far=far)
    closed = model.predict(probes.vectors)
    opened = model.predict_open(probes.vectors)
    out: dict[str, Any] = {
        "enrolled": len(model.classes),
        "enrolment_vectors": int(enrol.sum()),
        "threshold": model.threshold,
        "target_far": far,
        "threshold_from": model.info["threshold_from"],
        "accuracy": float(np.mean(closed == probes.subjects)),
        "open_set_identification_rate": float(np.mean(opened == probes.subjects)),
        "open_set_unknown_rate": float(np.mean(opened == UNKNOWN)),
        "per_condition": {},
    }
    for cond in ordered_conditions(set(probes.conditions)):
        m = probes.conditions == cond
        out["per_condition"][cond] = {
            "accuracy": float(np.mean(closed[m] == probes.subjects[m])),
            "open_set_identification_rate": float(np.mean(opened[m] == probes.subjects[m])),
        }
    return out, (model, closed)


def gei_sequences(shards: str, manifest: dict[str, dict[str, Any]]) -> dict[str, Sequences] | None:
    """The baseline's projected GEIs for gallery and probe, PCA + LDA fitted on the training subjects. The GEIs
    are accumulated from the shards a batch of clips at a time (`stream_geis`)."""
    meta = read_meta(shards)
    if not meta["columns"].get("silhouettes"):
        return None
    clips = {s: r["clips"] for s, r in manifest.items() if r.get("clips")}
    ids, geis = stream_geis(shards, splits=GEI_SPLITS, clips=clips)
    known = np.array([i in manifest for i in ids], dtype=bool)
    keep_ids, geis = np.array(ids, dtype=object)[known], geis[known]
    split = np.array([manifest[s]["split"] for s in keep_ids])
    train = np.isin(split, ["train", "val"])
    model = GeiBaseline.fit(geis[train], np.array([manifest[s]["subject"] for s in keep_ids[train]]))
    out = {}
    for role in ("gallery", "probe"):
        m = split == role
        out[role] = _sequences(list(keep_ids[m]), model.transform(geis[m]), manifest)
    out["info"] = model.describe() | {"training_sequences": int(train.sum())}
    return out


def evaluate(
    model_dir: str | Path,
    shards: str,
    *,
    gallery: str | None = None,
    out: str | Path | None = None,
    baseline: str | None = "gei",
    far: float = 0.01,
    actors: int = 1,
    gpus: float = 0.0,
) -> dict[str, Any]:
    """Evaluate and write `out` (default MODEL/evaluation): metrics.json, report.html, plots/*.png and the probes'
    vectors the endpoint scores against its registry (strangers.parquet). When `out` (or
    MODEL, for the default) is a URI, the report is written locally and then uploaded there, metrics.json last."""

    t0 = time.perf_counter()
    model = ModelInfo(model_dir)
    manifest = load_manifest(shards)
    meta = read_meta(shards)
    if meta["config_hash"] != model.config.get("shards_config_hash"):
        # Evaluation on other shards is allowed (another dataset), but their crops must match the model's input.
        pre = meta["config"]
        if (pre["width"], pre["height"], pre["clip_len"]) != (*model.config["input_size"], model.config["clip_len"]):
            raise ValueError(f"{shards} has clips of another size or length than the model was trained on")
    splits = {r["split"] for r in manifest.values()}
    if not {"gallery", "probe"} <= splits:
        raise ValueError(f"{shards} has no gallery/probe split (splits: {sorted(splits)}); preprocess with a protocol")
    split_of = {s: r["split"] for s, r in manifest.items()}
    if gallery:
        vectors = gallery_vectors(model, gallery, split_of)
        source = f"gallery {gallery}"
    else:
        vectors = embed_shards(model, shards, ["gallery", "probe", "val"], split_of, actors, gpus)
        source = f"shards {shards}"
    means = vectors.means()
    clips = vectors.clip_vectors()  # the gallery's and validation's clips: the SVM's enrolment and impostors
    g, p = _split_sequences(means, manifest, "gallery"), _split_sequences(means, manifest, "probe")
    missing = sum(1 for s, r in manifest.items() if r["split"] in ("gallery", "probe") and s not in means)
    if not len(g) or not len(p):
        raise ValueError(f"no gallery or probe vectors for {shards} in {source}")
    conditions = ordered_conditions(set(p.conditions))
    ranks, ver = _method_metrics(g, p, conditions)
    svm, (svm_model, closed) = svm_metrics(clips, manifest, p, far)
    try:
        endpoint = open_set(g, p, far)
    except ValueError as exc:
        endpoint = {"skipped": str(exc)}

    methods: dict[str, Any] = {
        "network": {
            "rank": {c: r.to_dict() for c, r in ranks.items()},
            "verification": ver.to_dict(FARS),
            "svm": svm,
            "open_set": endpoint,  # the serving endpoint's rule and its threshold (`gait serve` takes it)
        }
    }
    curves = {"network": (ranks, ver)}
    if baseline == "gei":
        geis = gei_sequences(shards, manifest)
        if geis is None:
            methods["gei"] = {"skipped": "the shards have no silhouettes (preprocess without --no-silhouettes)"}
        else:
            granks, gver = _method_metrics(geis["gallery"], geis["probe"], conditions)
            methods["gei"] = {
                "rank": {c: r.to_dict() for c, r in granks.items()},
                "verification": gver.to_dict(FARS),
                "model": geis["info"],
            }
            curves["gei"] = (granks, gver)

    target = str(out) if out else (join(model.uri, REPORTS_DIR) if is_remote(model.uri) else None)
    upload = target is not None and is_remote(target)
    # A remote target gets a local copy first; a remote model's own directory here is its cache: not written to.
    out = Path(tempfile.mkdtemp(prefix="gait-evaluation-")) if upload else Path(out or Path(model.dir) / REPORTS_DIR)
    metrics: dict[str, Any] = {
        "model": model.uri if is_remote(model.uri) else str(model.dir),
        "model_version": model.version,
        "shards": shards,
        "protocol": meta.get("protocol"),
        "layout": meta.get("layout"),
        "vectors_from": source,
        "gallery_sequences": len(g),
        "probe_sequences": len(p),
        "probe_sequences_without_vectors": missing,
        "views": sorted({int(v) for v in np.concatenate([g.views, p.views])}),
        "conditions": conditions,
        "identical_views": "excluded",
        "methods": methods,
        "rank1": {name: {c: m["rank"][c]["rank1"] for c in conditions} for name, m in methods.items() if "rank" in m},
        "map": {name: {c: m["rank"][c]["map"] for c in conditions} for name, m in methods.items() if "rank" in m},
        "map_definition": MAP_DEFINITION,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    out.mkdir(parents=True, exist_ok=True)
    if "threshold" in endpoint:  # the endpoint's strangers, scored again against whatever it enrols
        write_strangers(out, p.vectors, p.subjects, model.version, far)
    write_report(out, metrics, curves, p, closed, svm_model)
    atomic_write_json(out / "metrics.json", metrics)
    metrics["report"] = str(out / "report.html")
    if upload:
        try:
            upload_dir(out, target, marker="metrics.json")
        finally:
            shutil.rmtree(out, ignore_errors=True)
        metrics["report"] = join(target, "report.html")
    return metrics
