"""Run configs load, and name valid presets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.ingest.config import PRESETS as PREPROCESS_PRESETS
from pipeline.synth import PRESETS

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_configs_load(path):
    cfg = load_config(path)
    assert cfg.name == path.stem
    assert cfg.synth == PRESETS[path.stem]
    assert cfg.preprocess == PREPROCESS_PRESETS[path.stem]


def test_overrides_and_unknown_preset(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("synth:\n  preset: demo\n  subjects: 3\n  views: [90]\npreprocess:\n  clip_len: 12\n")
    cfg = load_config(p, workdir=tmp_path / "w")
    assert cfg.synth.subjects == 3 and cfg.synth.views == (90,) and cfg.workdir == tmp_path / "w"
    assert cfg.preprocess.clip_len == 12 and cfg.preprocess.width == 64
    p.write_text("synth:\n  preset: nope\n")
    with pytest.raises(ValueError, match="unknown synth preset"):
        load_config(p)
