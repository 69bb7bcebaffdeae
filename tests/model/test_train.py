"""Training on Ray Train: the model directory, two workers, a killed worker, a resumed run."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.train import data
from pipeline.train.config import StageConfig
from pipeline.train.run import discard_checkpoints, reusable_model, run_name
from pipeline.train.trainer import fit_stage
from tests.model.conftest import TINY

ROOT = Path(__file__).resolve().parents[2]


def test_model_directory(local_model):
    for f in (
        "pose/model.keras",
        "gait/model.keras",
        "presence/model.keras",
        "config.json",
        "metrics.json",
        "history.csv",
        "curves.png",
        "version",
    ):
        assert (local_model / f).is_file(), f
    metrics = json.loads((local_model / "metrics.json").read_text())
    for key in ("pose_pck@0.2", "gait_rank1_sequences", "gait_rank1_clips", "presence_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["epochs"] == {"pose": 2, "gait": 2, "presence": 1}
    config = json.loads((local_model / "config.json").read_text())
    assert config["classes"] == ["001", "002", "003"] and config["input_size"] == [32, 32]
    with open(local_model / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["stage"] for r in rows} == {"pose", "gait", "presence"} and "val_loss" in rows[0]
    assert any(r["val_pck"] for r in rows if r["stage"] == "pose")
    assert any(r["val_rank1"] for r in rows if r["stage"] == "gait")
    assert len((local_model / "version").read_text().strip()) == 16


def test_models_reload_in_a_fresh_process_and_predict_the_same(local_model, tiny_shards, tmp_path):
    from pipeline.ingest.shards import load_clips
    from pipeline.models.io import load_model

    clips = load_clips(str(tiny_shards), columns=["frames"], splits=["val"])["frames"][:4].astype(np.float32) / 255
    np.save(tmp_path / "clips.npy", clips)
    here = load_model(local_model / "gait" / "model.keras").predict(clips, verbose=0)
    code = (
        "import numpy as np, pipeline\n"
        "from pipeline.models.io import load_model\n"
        f"m = load_model({str(local_model / 'gait' / 'model.keras')!r})\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, m.predict(np.load({str(tmp_path / 'clips.npy')!r}), verbose=0))\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), here, atol=1e-5)
    assert np.allclose(np.linalg.norm(here, axis=1), 1.0, atol=1e-4)


def _gait_inputs(shards: Path) -> tuple[dict, dict]:
    classes = data.label_map(str(shards))
    datasets = {
        "train": data.gait_dataset(str(shards), ("train",), classes),
        "val": data.gait_dataset(str(shards), ("val",), classes),
    }
    return datasets, {"input_size": [32, 32], "num_classes": len(classes), "pose_weights": None}


def test_two_workers_resume_after_a_worker_is_killed(tiny_shards, tmp_path):
    """Rank 1 is SIGKILLed at the end of epoch 1; Ray Train replaces the worker group, which resumes from the
    checkpoint of epoch 1 instead of starting over."""
    cfg = replace(TINY, workers=2, cpus_per_worker=1, max_failures=2, gait=StageConfig(epochs=4, batch_size=8))
    datasets, spec = _gait_inputs(tiny_shards)
    crash = {"rank": 1, "epoch": 1, "marker": str(tmp_path / "killed")}
    result = fit_stage(
        "gait", cfg, datasets, spec, tmp_path / "w", name="kill-test", storage_path=str(tmp_path / "ray"), crash=crash
    )
    assert Path(crash["marker"]).exists(), "the worker was killed"
    assert result.attempts == 2
    epochs = [row["epoch"] for row in result.history]
    assert epochs == [0, 1, 2, 3], "resumed after epoch 1: no epoch repeated, none lost"
    assert result.weights.is_file()


def test_rerunning_a_stopped_run_resumes_it(tiny_shards, tmp_path):
    """A run whose every attempt failed (max_failures=0) is stopped; the same command again resumes it."""
    cfg = replace(TINY, workers=2, cpus_per_worker=1, max_failures=0, gait=StageConfig(epochs=3, batch_size=8))
    datasets, spec = _gait_inputs(tiny_shards)
    kw = {"name": "stopped", "storage_path": str(tmp_path / "ray")}
    crash = {"rank": 0, "epoch": 0, "marker": str(tmp_path / "killed")}
    with pytest.raises(Exception):  # noqa: B017 (Ray's error type for a failed run varies by version)
        fit_stage("gait", cfg, datasets, spec, tmp_path / "w", crash=crash, **kw)
    result = fit_stage("gait", cfg, datasets, spec, tmp_path / "w", crash=crash, **kw)
    assert [row["epoch"] for row in result.history] == [0, 1, 2]
    assert result.history[1].get("start_epoch") == 1, "the second run started after the checkpoint of epoch 0"


def test_overwrite_discards_only_the_runs_of_these_shards_and_this_config(tmp_path):
    """`gait train --overwrite` trains anew: the stage runs it would resume from are removed, nothing else."""
    other = replace(TINY, seed=1)
    mine = [run_name(stage, "shards1", TINY) for stage in ("pose", "gait", "presence")]
    kept = [run_name("gait", "shards2", TINY), run_name("gait", "shards1", other), "someone-elses-run"]
    for name in mine + kept:
        (tmp_path / name / "checkpoint_2026-11-30_00-00-00.000000").mkdir(parents=True)
    removed = discard_checkpoints(str(tmp_path), "shards1", TINY)
    assert sorted(Path(p).name for p in removed) == sorted(mine)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    assert discard_checkpoints(str(tmp_path / "never-written"), "shards1", TINY) == []


def test_a_model_is_reused_only_for_the_shards_it_was_trained_on(local_model, tiny_shards, tmp_path, capsys):
    """The main job keeps a model trained with the same config on the same shards. Shards remade from changed
    inputs have another content hash (tests/data/test_preprocess.py), and the model is trained again: before,
    only the shards' config was compared, and the model of the old data was kept."""
    meta = json.loads((tiny_shards / "_manifest.json").read_text())
    config = json.loads((local_model / "config.json").read_text())
    assert config["shards_content_hash"] == meta["content_hash"]
    assert reusable_model(str(tiny_shards), local_model, TINY).version == (local_model / "version").read_text().strip()

    remade = tmp_path / "shards"
    shutil.copytree(tiny_shards, remade)
    (remade / "_manifest.json").write_text(json.dumps(meta | {"content_hash": "0123456789abcdef"}))
    assert reusable_model(str(remade), local_model, TINY) is None
    assert "other shards" in capsys.readouterr().out
    assert reusable_model(str(tiny_shards), local_model, replace(TINY, seed=1)) is None
    assert "another training config" in capsys.readouterr().out
    assert reusable_model(str(tiny_shards), tmp_path / "no-model", TINY) is None


def test_early_stopping_stops_both_workers_together(tiny_shards, tmp_path):
    cfg = replace(
        TINY,
        workers=2,
        cpus_per_worker=1,
        gait=StageConfig(epochs=8, batch_size=8, learning_rate=0.5, patience=1, lr_patience=5),
    )
    datasets, spec = _gait_inputs(tiny_shards)
    result = fit_stage("gait", cfg, datasets, spec, tmp_path / "w", name="early", storage_path=str(tmp_path / "r"))
    assert 2 <= len(result.history) < 8  # stopped early, and the run finished: no worker was left waiting


def test_tf_heatmap_targets_match_numpy():
    import tensorflow as tf

    from pipeline.models.heatmaps import joints_to_heatmaps
    from pipeline.train.stages import heatmap_targets

    rng = np.random.default_rng(0)
    joints = np.concatenate([rng.uniform(0, 63, (4, 16, 2)), rng.integers(0, 2, (4, 16, 1))], -1).astype(np.float32)
    ours = heatmap_targets(tf.constant(joints), (64, 48), (32, 24), 1.5).numpy()
    np.testing.assert_allclose(ours, joints_to_heatmaps(joints, (64, 48), (32, 24), 1.5), atol=1e-5)


def test_random_frames_are_a_run_of_the_clip():
    import tensorflow as tf

    from pipeline.train.stages import random_frames

    clips = np.arange(3 * 8, dtype=np.float32).reshape(3, 8, 1) * np.ones((1, 1, 5), np.float32)
    starts = set()
    for _ in range(40):
        out = random_frames(tf.constant(clips), 5).numpy()
        assert out.shape == (3, 5, 5)
        start = int(out[0, 0, 0])
        starts.add(start)
        np.testing.assert_array_equal(out, clips[:, start : start + 5])  # the same run for the whole batch
    assert starts == {0, 1, 2, 3}  # every start happens
    assert random_frames(tf.constant(clips), 20).shape == clips.shape  # longer than the clip: the whole clip


def test_stage_datasets_batch_their_rows_with_tf_data_autotuning_off(ray_local):
    """Keras makes a new iterator over a stage's dataset every epoch; with tf.data's autotuning on, destroying the
    last one can wait for its tuning thread's sleep: idle CPU between epochs (bench/bench_epoch_gap.py)."""
    from pipeline.train.stages import STAGES

    rng = np.random.default_rng(0)

    def image() -> np.ndarray:
        return rng.integers(0, 256, (32, 32, 3), np.uint8)

    rows = {
        "pose": [{"image": image(), "joints": rng.uniform(0, 31, (16, 3)).astype(np.float32)} for _ in range(6)],
        "gait": [{"clip": np.stack([image() for _ in range(8)]), "label": i % 3} for i in range(6)],
        "presence": [{"image": image(), "label": i % 2} for i in range(6)],
    }
    spec = {"input_size": [32, 32]}
    for name, items in rows.items():
        for shuffle in (True, False):
            ds = STAGES[name].dataset(ray_local.data.from_items(items), 4, spec, TINY, shuffle=shuffle)
            assert ds.options().autotune.enabled is False, name
            batches = list(ds)
            assert len(batches) == 1, name  # 6 rows in batches of 4, the partial one dropped
            x, _ = batches[0]
            assert x.shape[0] == 4 and x.dtype.name == "float32" and float(np.max(x)) <= 1.0, name
