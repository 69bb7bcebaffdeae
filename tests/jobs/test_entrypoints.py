"""A job's entrypoint started with a Python that lacks the project's packages (a head started outside the
virtualenv) stops at once and says why and what to do, instead of failing deep in an import."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_bare_python_is_told_to_use_the_virtualenv(tmp_path):
    venv.EnvBuilder(with_pip=False).create(tmp_path / "bare")  # a Python with nothing installed
    bare = tmp_path / "bare" / "bin" / "python"
    assert subprocess.run([str(bare), "-c", "import cv2"], capture_output=True).returncode != 0
    done = subprocess.run(
        [str(bare), str(ROOT / "jobs" / "synth.py"), "--config", "configs/demo.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode != 0
    assert "lacks" in done.stderr and "cv2" in done.stderr and "virtualenv" in done.stderr
    assert str(bare) in done.stderr and ".venv/bin/activate" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_project_python_runs_the_job():
    done = subprocess.run(
        [sys.executable, str(ROOT / "jobs" / "synth.py"), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: gait synth ")
