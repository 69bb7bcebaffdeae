"""A real Ray head node of the tests' own: `ray start --head` on loopback, its own temp dir and ports, token
authentication on. Only its processes are stopped afterwards (never `ray stop`, which would stop every Ray on
the machine)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")


@dataclass(frozen=True)
class Head:
    dashboard: str  # http://127.0.0.1:PORT: where jobs are submitted
    gcs: str  # 127.0.0.1:PORT
    token: str
    temp_dir: Path
    env: dict[str, str]  # what a client needs: RAY_AUTH_MODE=token and RAY_AUTH_TOKEN


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on loopback."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def worker_port_range(size: int = 64) -> tuple[int, int]:
    """A run of `size` ports, every one free now, for the head's workers."""
    rng = secrets.SystemRandom()
    for _ in range(50):
        start = rng.randrange(30000, 60000 - size)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(start, start + size):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return start, start + size - 1
    raise RuntimeError("no run of free ports for the head's workers")


def head_processes(temp_dir: Path) -> list[psutil.Process]:
    """Every process of the head started with `temp_dir`, and their children (the workers)."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(str(temp_dir) in part for part in proc.info["cmdline"] or []):
                found[proc.pid] = proc
                for child in proc.children(recursive=True):
                    found[child.pid] = child
    return list(found.values())


def stop_head(temp_dir: Path) -> None:
    procs = head_processes(temp_dir)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=15)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=10)


@pytest.fixture(scope="module")
def ray_head():
    """A head node with 2 CPUs, the dashboard (the job server) on loopback, and a token of its own."""
    temp_dir = Path(tempfile.mkdtemp(prefix="gait-head-", dir="/tmp"))  # short: Ray's socket paths have a limit
    token = secrets.token_hex(32)
    gcs, dash, client, manager, objects, agent, agent_grpc, metrics, env_agent = free_ports(9)
    low, high = worker_port_range()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    client_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    env.update(client_env, TF_USE_LEGACY_KERAS="1")
    # As in an activated virtualenv: the job's `python` is this one, with the project's dependencies.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [
        RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}", "--num-cpus=2", "--num-gpus=0",
        f"--temp-dir={temp_dir}", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}", f"--ray-client-server-port={client}", f"--node-manager-port={manager}",
        f"--object-manager-port={objects}", f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
        f"--runtime-env-agent-port={env_agent}", f"--min-worker-port={low}", f"--max-worker-port={high}",
        "--object-store-memory=400000000", "--disable-usage-stats",
    ]  # fmt: skip
    try:
        subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=180)
        url = f"http://127.0.0.1:{dash}"
        deadline = time.monotonic() + 120
        while True:  # the job server answers once the dashboard is up
            with contextlib.suppress(requests.RequestException):
                r = requests.get(f"{url}/api/version", headers={"Authorization": f"Bearer {token}"}, timeout=5)
                if r.ok:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the head's dashboard did not come up at {url}")
            time.sleep(1)
        yield Head(url, f"127.0.0.1:{gcs}", token, temp_dir, {**env, **client_env})
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"ray start failed:\n{exc.stdout}\n{exc.stderr}") from exc
    finally:
        stop_head(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
