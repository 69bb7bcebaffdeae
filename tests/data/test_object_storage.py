"""Shards, checkpoints, the model, the gallery and reports on a real S3 API: moto's server on loopback, reached
by pyarrow.fs through the standard AWS variables (AWS_ENDPOINT_URL, credentials, region), as on a cluster."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import replace
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from pipeline.common import model_dir as model_store
from pipeline.common.storage import list_files, read_bytes, replace_dir
from pipeline.train.checkpoints import WEIGHTS

pytest.importorskip("moto.server")

BUCKET = "gait"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server on a free loopback port with a bucket; the environment points pyarrow at it. Yields the
    bucket's filesystem."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "GAIT_CACHE": str(tmp_path_factory.mktemp("model-cache")),
    }
    try:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            mp.delenv("AWS_ENDPOINT_URL_S3", raising=False)
            mp.delenv("AWS_PROFILE", raising=False)
            pafs.FileSystem.from_uri(f"s3://{BUCKET}?allow_bucket_creation=true")[0].create_dir(BUCKET)
            yield pafs.FileSystem.from_uri(f"s3://{BUCKET}")[0]
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ray_s3(s3, tiny_shards):
    """The session's Ray, restarted if it started before the S3 variables were set: Ray Data workers and actors
    (which write shards and fetch the model themselves) only see the environment Ray started with."""
    import ray

    from tests.conftest import start_ray

    if ray.is_initialized():
        env_vars = (ray.get_runtime_context().runtime_env or {}).get("env_vars") or {}
        if env_vars.get("AWS_ENDPOINT_URL") != os.environ["AWS_ENDPOINT_URL"]:
            ray.shutdown()
    if not ray.is_initialized():
        start_ray()
    return s3


def _keys(fs: pafs.FileSystem, prefix: str) -> list[str]:
    return [p[len(BUCKET) + 1 :] for p in list_files(fs, f"{BUCKET}/{prefix}")]


def _fake_model(root: Path, version: str, payload: bytes = b"weights") -> Path:
    (root / "gait").mkdir(parents=True, exist_ok=True)
    (root / "gait" / "model.keras").write_bytes(payload)
    (root / "evaluation").mkdir(exist_ok=True)
    (root / "evaluation" / "metrics.json").write_text("{}")
    (root / "version").write_text(version + "\n")
    return root


def test_publish_and_the_local_cache(s3, tmp_path, monkeypatch):
    """`version` is written last and gone while a model is replaced; a version is downloaded once."""
    uri = f"s3://{BUCKET}/unit/model"
    downloads = []
    real = model_store._download
    monkeypatch.setattr(model_store, "_download", lambda u, d: (downloads.append(u), real(u, d)))
    monkeypatch.setenv("GAIT_CACHE", str(tmp_path / "cache"))

    assert model_store.publish(_fake_model(tmp_path / "v1", "aaaa"), uri) == "aaaa"
    files = ("evaluation/metrics.json", "gait/model.keras", "version")
    assert _keys(s3, "unit/model") == [f"unit/model/{f}" for f in files]
    first = model_store.local_model(uri)
    assert first.parent == tmp_path / "cache" and (first / "gait" / "model.keras").read_bytes() == b"weights"
    assert not (first / "evaluation").exists(), "reports stay remote"
    assert model_store.local_model(uri) == first and downloads == [uri], "same version: no second download"

    # A new version: the old model's files go, the reader gets a new copy, the old copy stays for its users.
    model_store.publish(_fake_model(tmp_path / "v2", "bbbb", b"better"), uri)
    second = model_store.local_model(uri)
    assert second != first and (second / "gait" / "model.keras").read_bytes() == b"better"
    assert len(downloads) == 2 and (first / "version").read_text().strip() == "aaaa"

    # Half published (no version yet): not a model.
    s3.delete_file(f"{BUCKET}/unit/model/version")
    with pytest.raises(FileNotFoundError, match="not a complete model directory"):
        model_store.local_model(uri)
    assert model_store.local_model(tmp_path / "v1") == tmp_path / "v1", "local paths are used as they are"


def test_replace_dir_on_an_object_store(s3):
    """No directory rename on S3: the marker goes first, the old files go, the new ones come, the marker last."""
    for name, data in (("old/a", b"1"), ("old/stale", b"x"), ("old/_manifest.json", b"{}"), ("new/a", b"2")):
        with s3.open_output_stream(f"{BUCKET}/rd/{name}") as fh:
            fh.write(data)
    with s3.open_output_stream(f"{BUCKET}/rd/new/_manifest.json") as fh:
        fh.write(b'{"new": 1}')
    replace_dir(s3, f"{BUCKET}/rd/new", f"{BUCKET}/rd/old", marker="_manifest.json")
    assert _keys(s3, "rd") == ["rd/old/_manifest.json", "rd/old/a"]
    assert read_bytes(s3, f"{BUCKET}/rd/old/a") == b"2"


@pytest.mark.slow
def test_shards_model_gallery_and_report_on_s3(ray_s3, tiny_shards, tmp_path, monkeypatch):
    """The pipeline with every output in the bucket: preprocess → train → index (twice) → evaluate."""
    from pipeline.common.model_dir import ModelInfo
    from pipeline.evaluate.run import evaluate
    from pipeline.identify.gallery import MEAN_ROW, read_gallery
    from pipeline.identify.index import index_archive
    from pipeline.ingest.config import PreprocessConfig
    from pipeline.ingest.preprocess import preprocess
    from pipeline.ingest.shards import read_meta
    from pipeline.train.config import StageConfig
    from pipeline.train.run import read_summary, train, train_or_reuse
    from tests.model.conftest import TINY

    s3 = ray_s3
    cfg = replace(TINY, first_stage="silhouette", gait=StageConfig(epochs=1, batch_size=8))  # the quickest model
    synth = str(tiny_shards.parent / "synth")
    shards, model, gallery = (f"s3://{BUCKET}/{p}" for p in ("shards", "model", "gallery"))

    # Shards: written by Ray Data workers straight into the bucket, swapped into place without a rename.
    pre = preprocess(synth, shards, PreprocessConfig(width=32, height=32, clip_len=8, stride=4, min_frames=4))
    keys = _keys(s3, "shards")
    assert {"shards/_manifest.json", "shards/manifest.parquet", "shards/errors.parquet"} <= set(keys)
    assert any(k.startswith("shards/shards/") and k.endswith(".parquet") for k in keys)
    assert not [k for k in _keys(s3, "") if k.startswith(".shards.")], "no staging copy left behind"
    assert pre.failed == 0 and read_meta(shards)["counts"]["clips"] == read_meta(str(tiny_shards))["counts"]["clips"]

    # The model: trained in a local staging directory from the bucket's shards, then published, version last.
    summary = train(shards, model, cfg)
    assert summary.out == model and read_summary(model).version == summary.version
    assert {"model/version", "model/config.json", "model/gait/model.keras", "model/presence/model.keras"} <= set(
        _keys(s3, "model")
    )
    assert read_bytes(s3, f"{BUCKET}/model/version").decode().strip() == summary.version
    assert train_or_reuse(shards, model, cfg).version == summary.version  # reused: read back from the bucket

    # The gallery: actors fetch the model themselves; a second run adds nothing.
    first = index_archive(synth, model, gallery, commit_every=16)
    assert first.indexed == first.discovered == 50 and first.failed == 0
    assert any(k.startswith(f"gallery/parts/{summary.version}/part-") for k in _keys(s3, "gallery"))
    rows = read_gallery(gallery)
    means = rows.filter(rows["clip_index"].to_numpy() == MEAN_ROW)
    assert len(means) == 50 and len(rows) == 50 + first.clips
    assert set(rows["model_version"].to_pylist()) == {summary.version}
    assert json.loads(read_bytes(s3, f"{BUCKET}/gallery/_gallery.json"))["model"] == model
    again = index_archive(synth, model, gallery)
    assert again.indexed == 0 and again.skipped == 50 and len(read_gallery(gallery)) == len(rows)

    # The model by URI in this process: one download into an empty cache, none for the same version.
    monkeypatch.setenv("GAIT_CACHE", str(tmp_path / "cache"))
    downloads = []
    real = model_store._download
    monkeypatch.setattr(model_store, "_download", lambda u, d: (downloads.append(u), real(u, d)))
    info = ModelInfo(model)
    assert info.version == summary.version and info.uri == model and info.dir.parent == tmp_path / "cache"
    assert ModelInfo(model).dir == info.dir and downloads == [model]

    # The report: written locally, uploaded to MODEL/evaluation, metrics.json last.
    metrics = evaluate(model, shards, gallery=gallery, baseline=None)
    assert metrics["report"] == f"{model}/evaluation/report.html" and metrics["model"] == model
    assert {"model/evaluation/metrics.json", "model/evaluation/report.html"} <= set(_keys(s3, "model"))
    saved = json.loads(read_bytes(s3, f"{BUCKET}/model/evaluation/metrics.json"))
    assert saved["model_version"] == summary.version and saved["probe_sequences"] == 16


@pytest.mark.slow
def test_ray_train_checkpoints_in_the_bucket(ray_s3, tiny_shards, tmp_path):
    """Workers write their checkpoints to an s3:// storage_path; the driver reads the best weights back through
    Ray Train's Result/Checkpoint, as it would from a worker on another node."""
    from pipeline.train import data
    from pipeline.train.checkpoints import latest_checkpoint
    from pipeline.train.config import StageConfig
    from pipeline.train.trainer import fit_stage
    from tests.model.conftest import TINY

    s3 = ray_s3
    cfg = replace(TINY, workers=1, cpus_per_worker=1, presence=StageConfig(epochs=1, batch_size=16))
    shards = str(tiny_shards)
    datasets = {s: data.presence_dataset(shards, s, 2) for s in ("train", "val")}
    storage = f"s3://{BUCKET}/checkpoints"
    result = fit_stage(
        "presence", cfg, datasets, {"input_size": [64, 64]}, tmp_path / "w", name="p", storage_path=storage
    )
    assert result.weights.is_file() and len(result.history) == 1
    keys = _keys(s3, "checkpoints/p")
    assert any(k.endswith(f"/{WEIGHTS}") for k in keys) and any(k.endswith("/state.json") for k in keys)
    assert latest_checkpoint(storage, "p").startswith(f"{storage}/p/checkpoint_")
