"""Run configs load, and name valid presets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.config import load_config
from pipeline.ingest.config import PRESETS as PREPROCESS_PRESETS
from pipeline.synth import PRESETS
from pipeline.train.config import PRESETS as TRAIN_PRESETS

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_configs_load(path):
    raw = yaml.safe_load(path.read_text())
    cfg = load_config(path)
    assert cfg.name == path.stem
    if "synth" in raw:
        assert cfg.synth == PRESETS[raw["synth"]["preset"]] and cfg.source == cfg.path("synth")
    else:  # real data: the file names where it is
        assert raw["source"] and cfg.source == raw["source"]
    assert cfg.preprocess == PREPROCESS_PRESETS[raw["preprocess"]["preset"]]
    assert cfg.train == TRAIN_PRESETS[raw["train"]["preset"]]


def test_overrides_and_unknown_preset(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("synth:\n  preset: demo\n  subjects: 3\n  views: [90]\npreprocess:\n  clip_len: 12\n")
    cfg = load_config(p, workdir=tmp_path / "w")
    assert cfg.synth.subjects == 3 and cfg.synth.views == (90,) and cfg.workdir == str(tmp_path / "w")
    assert cfg.preprocess.clip_len == 12 and cfg.preprocess.width == 64
    p.write_text("synth:\n  preset: nope\n")
    with pytest.raises(ValueError, match="unknown synth preset"):
        load_config(p)


def test_a_config_gives_every_command_its_paths_and_options(tmp_path):
    from pipeline.cli import index as index_command
    from pipeline.cli import parse
    from pipeline.cli import train as train_command

    def index_of(argv):
        cfg, paths = index_command.resolve_index(parse("index", argv))
        return cfg.index, paths

    def train_paths_of(argv):
        args = parse("train", argv)
        return train_command.paths_from_args(args, train_command.run_config("train", args, "train", {}))

    p = tmp_path / "c.yaml"
    p.write_text("workdir: s3://bucket/run\nsource: gs://videos/archive\nindex:\n  actors: 3\n  batch-size: 8\n")
    index, index_paths = index_of(["--config", str(p)])
    assert (index_paths.archive, index_paths.model, index_paths.out) == (
        "gs://videos/archive",
        "s3://bucket/run/model",
        "s3://bucket/run/gallery",
    )
    assert (index.actors, index.batch_size) == (3, 8)
    assert index_of(["--config", str(p), "--actors", "5"])[0].actors == 5  # the command line wins
    train = train_paths_of(["--config", str(p), "--workdir", str(tmp_path / "w")])
    assert (train.shards, train.out) == (str(tmp_path / "w" / "shards"), str(tmp_path / "w" / "model"))
    assert train_paths_of(["elsewhere", "out"]).shards == "elsewhere"  # no config: as before
    p.write_text("index:\n  no_such_option: 1\n")
    with pytest.raises(SystemExit, match="no_such_option"):
        index_of(["--config", str(p)])
    p.write_text("trian:\n  preset: demo\n")
    with pytest.raises(ValueError, match="unknown section"):
        load_config(p)


def test_each_job_is_its_gait_command():
    """jobs/<stage>.py takes exactly the flags of `gait <stage>` (it hands them over), for every stage."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    for stage in ("synth", "preprocess", "train", "index", "evaluate", "deploy", "pipeline"):
        out = subprocess.run(
            [sys.executable, str(root / "jobs" / f"{stage}.py"), "--help"], capture_output=True, text=True, check=True
        ).stdout
        assert out.startswith(f"usage: gait {stage} ") and "--config" in out and "--workdir" in out, stage
