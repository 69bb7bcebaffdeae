"""cluster/serve.yaml is what `serve build` gives for the application (only its name and runtime_env set by
hand), and Serve's own schema accepts it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "cluster" / "serve.yaml"


def test_serve_config_is_what_serve_build_gives(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAIT_")}
    out = tmp_path / "built.yaml"
    subprocess.run(
        [str(Path(sys.executable).parent / "serve"), "build", "pipeline.serve.app:app", "-o", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    built, ours = yaml.safe_load(out.read_text()), yaml.safe_load(CONFIG.read_text())
    for app in (*built["applications"], *ours["applications"]):
        app.pop("name")
        app.pop("runtime_env")
    assert ours == built


def test_serve_config_validates():
    from ray.serve.schema import ServeDeploySchema

    config = ServeDeploySchema.model_validate(yaml.safe_load(CONFIG.read_text()))
    (app,) = config.applications
    env = app.runtime_env["env_vars"]
    assert env["TF_USE_LEGACY_KERAS"] == "1" and env["GAIT_TOKEN_FILE"] and "GAIT_TOKEN" not in env
    deployments = {d.name: d for d in app.deployments}
    assert set(deployments) == {"Api", "Embedder", "Classifier"}
    scaling = deployments["Embedder"].autoscaling_config
    assert 1 <= scaling["min_replicas"] <= scaling["max_replicas"]
