"""The main job submitted to a real head node with token authentication on: once with `ray job submit
--working-dir .`, once with JobSubmissionClient (which reuses what the first built)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests
import yaml
from ray.job_submission import JobStatus, JobSubmissionClient

from tests.jobs.conftest import RAY, ROOT

pytestmark = pytest.mark.slow

# The demo preset, made small enough for a test: 5 people, 2 views, 8-frame clips of 32x32, 1-2 epochs a stage.
# Training runs on Ray Train with one worker holding one of the head's two CPUs (the other is for Ray Data).
CONFIG = {
    "name": "job-test",
    "synth": {
        "preset": "demo",
        "subjects": 5,
        "sequences": {"nm": 3, "bg": 1, "cl": 1},
        "views": [54, 90],
        "frames": 20,
        "width": 96,
        "height": 96,
        "background_frames": 6,
        "seed": 3,
    },
    "preprocess": {
        "preset": "demo",
        "width": 32,
        "height": 32,
        "clip_len": 8,
        "stride": 4,
        "min_frames": 4,
        "train_fraction": 0.6,  # 3 people to train on, 2 held out: probes, gallery, genuine and impostor pairs
    },
    "train": {
        "preset": "demo",
        "feature_channels": 8,
        "units": 16,
        "descriptor": 16,
        "embedding": 16,
        "pose_frames_per_clip": 2,
        "presence_frames_per_video": 2,
        "pose": {"epochs": 2, "batch_size": 16},
        "gait": {"epochs": 2, "batch_size": 8},
        "presence": {"epochs": 1, "batch_size": 16},
        "workers": 1,
        "cpus_per_worker": 1,
    },
    "index": {"batch_size": 16},
}
RUNTIME_ENV = {"env_vars": {"TF_USE_LEGACY_KERAS": "1"}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The config file and the shared workdir the jobs write to (absolute: a job runs in Ray's copy of the
    working dir, whose own runs/ would vanish with it)."""
    root = tmp_path_factory.mktemp("job-run")
    config = root / "job-test.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    return config, root / "work"


def entrypoint(config: Path, workdir: Path) -> str:
    return f"python jobs/pipeline.py --config {config} --workdir {workdir}"


def gallery_rows(workdir: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in (workdir / "gallery" / "parts").rglob("*.parquet"))


def wait_until_done(client: JobSubmissionClient, job: str, seconds: float) -> str:
    """The job's logs once it SUCCEEDED (fails the test with the logs' tail if it failed or took too long)."""
    deadline = time.monotonic() + seconds
    while (status := client.get_job_status(job)) not in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}:
        assert time.monotonic() < deadline, client.get_job_logs(job)[-4000:]
        time.sleep(2)
    logs = client.get_job_logs(job)
    assert status == JobStatus.SUCCEEDED, logs[-6000:]
    return logs


def test_token_is_required(ray_head):
    r = requests.get(f"{ray_head.dashboard}/api/jobs/", timeout=10)
    assert r.status_code == 401
    r = requests.get(f"{ray_head.dashboard}/api/jobs/", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 403
    with pytest.raises(Exception, match=r"(?i)auth|401|unauthori"):
        JobSubmissionClient(ray_head.dashboard)


def test_ray_job_submit_runs_the_main_job(ray_head, run):
    config, workdir = run
    cmd = [
        RAY, "job", "submit", "--address", ray_head.dashboard, "--working-dir", ".",
        "--runtime-env-json", json.dumps(RUNTIME_ENV), "--", *entrypoint(config, workdir).split(),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=ray_head.env, capture_output=True, text=True, timeout=1200)
    logs = proc.stdout + proc.stderr
    assert proc.returncode == 0, logs[-6000:]
    assert "succeeded" in logs.lower(), logs[-6000:]
    assert "pipeline summary" in logs and "GEI" in logs, logs[-6000:]

    summary = json.loads((workdir / "summary.json").read_text())
    assert set(summary["seconds"]) == {"synth", "preprocess", "train", "index", "evaluate", "serve"}
    assert {"network", "gei"} <= set(summary["rank1"])
    assert set(summary["rank1"]["network"]) == {"nm", "bg", "cl"}
    assert Path(summary["report"]).is_file() and Path(summary["report"]).name == "report.html"
    assert (workdir / "model" / "version").is_file() and (workdir / "model" / "gait" / "model.keras").is_file()
    assert gallery_rows(workdir) > 0
    assert "over HTTP" in " ".join(summary["lines"]["serve"])


def test_job_submission_client_reuses_what_is_built(ray_head, run):
    config, workdir = run
    version = (workdir / "model" / "version").read_text()
    rows = gallery_rows(workdir)
    model_mtime = (workdir / "model" / "version").stat().st_mtime_ns

    client = JobSubmissionClient(ray_head.dashboard, headers={"Authorization": f"Bearer {ray_head.token}"})
    job = client.submit_job(
        entrypoint=entrypoint(config, workdir),
        runtime_env={"working_dir": str(ROOT), **RUNTIME_ENV},
    )
    logs = wait_until_done(client, job, 900)
    assert "pipeline summary" in logs

    # Nothing was rebuilt: the same model (not retrained), no row indexed twice.
    assert (workdir / "model" / "version").read_text() == version
    assert (workdir / "model" / "version").stat().st_mtime_ns == model_mtime
    assert gallery_rows(workdir) == rows
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["seconds"]["train"] < 60, summary["seconds"]


def test_deploy_job_leaves_the_application_serving(ray_head, run):
    """jobs/deploy.py deploys the HTTP API onto the cluster and returns; the application keeps answering."""
    from pipeline.serve.stage import free_port

    config, workdir = run
    port = free_port()
    client = JobSubmissionClient(ray_head.dashboard, headers={"Authorization": f"Bearer {ray_head.token}"})
    job = client.submit_job(
        entrypoint=f"python jobs/deploy.py --config {config} --workdir {workdir} --no-admin --host 127.0.0.1 "
        f"--port {port} --max-replicas 1",
        runtime_env={"working_dir": str(ROOT), **RUNTIME_ENV},
    )
    logs = wait_until_done(client, job, 600)
    assert "deployed application 'gait'" in logs

    health = requests.get(f"http://127.0.0.1:{port}/health", timeout=60)  # after the job has ended
    assert health.status_code == 200, health.text
    assert health.json()["model_version"] == (workdir / "model" / "version").read_text().strip()
