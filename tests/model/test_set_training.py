"""The set stage end to end on tiny data: silhouettes streamed from the shards through Ray Train, P × K
batches, validation on people held out of training, the embedder saved and reloaded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.train.config import StageConfig
from tests.model.conftest import TINY

SET = TINY.with_changes(
    first_stage="silhouette",
    sampler="pk",
    gait_model="set",
    set_widths=(4, 8, 8),
    set_bins=(1, 2, 4),
    set_part_dim=8,
    set_frames=5,
    sampler_p=2,
    sampler_k=2,
    sampler_buffer=16,
    gait=StageConfig(epochs=3, learning_rate=1e-3),
    max_train_minutes=1e-4,  # the time budget stops it after the first epoch
    workers=1,
    cpus_per_worker=1,
    threads_per_worker=2,
)


@pytest.fixture(scope="module")
def people_shards(ray_local, tmp_path_factory):
    """6 synthetic people: 3 train, 1 validates (held out whole: val_subjects), 2 test; 32x32 silhouettes."""
    from pipeline.ingest.config import PreprocessConfig
    from pipeline.ingest.preprocess import preprocess
    from pipeline.synth import generate_dataset
    from tests.data.conftest import TINY as TINY_SYNTH

    root = tmp_path_factory.mktemp("set-data")
    generate_dataset(TINY_SYNTH.with_changes(subjects=6), root / "synth", parallel=False, progress=False)
    cfg = PreprocessConfig(width=32, height=32, clip_len=8, stride=4, min_frames=4, train_fraction=0.6)
    preprocess(str(root / "synth"), str(root / "shards"), cfg.with_changes(val_subjects=1))
    return root / "shards"


def test_validation_people_are_held_out_whole(people_shards):
    from pipeline.ingest.shards import load_clips

    c = load_clips(str(people_shards), columns=["subject", "split"])
    by_split = {s: set(c["subject"][c["split"] == s]) for s in set(c["split"])}
    assert by_split["val"] == {"004"} and by_split["train"] == {"001", "002", "003"}
    assert not by_split["val"] & by_split["train"]


def test_set_model_trains_through_ray_train_and_reloads(people_shards, tmp_path):
    from pipeline.ingest.shards import load_clips
    from pipeline.models.io import load_model
    from pipeline.train.run import train

    summary = train(str(people_shards), tmp_path / "model", SET)
    m = summary.metrics
    assert m["classes"] == 3 and m["set_val_people"] == 1
    assert 0.0 <= m["set_val_rank1"] <= 1.0 and m["set_best_epoch"] == 1
    assert m["epochs"]["set"] == 1  # of 3: the time budget ran out
    assert any("set: rank-1 on 1 validation people" in line for line in summary.lines())
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["column"] == "silhouettes" and config["train"]["gait_model"] == "set"
    model = load_model(tmp_path / "model" / "gait" / "model.keras")
    clips = load_clips(str(people_shards), columns=["silhouettes"], splits=["gallery"])["silhouettes"][:3]
    x = clips[..., None].astype(np.float32) / 255.0
    vecs = model.predict(x, verbose=0)
    assert vecs.shape == (3, 7 * 8)  # 7 strips (1 + 2 + 4) of 8
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    # unordered: the saved embedder gives a clip the same vector whatever the order of its frames
    np.testing.assert_allclose(model.predict(x[:, ::-1], verbose=0), vecs, atol=1e-5)
