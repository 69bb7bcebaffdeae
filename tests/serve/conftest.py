"""A real Ray Serve application of the tiny model on a free loopback port, shared by the serving tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from pipeline.serve.config import ServeConfig, ServePaths
from pipeline.serve.stage import free_port, start

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="session")
def videos(local_model) -> dict[str, list[Path]]:
    """The tiny synthetic archive's normal walks by subject."""
    root = local_model.parent.parent  # tmp dirs: .../models0/model → look beside for the archive
    # train-data* also matches pytest's `train-datacurrent` link to the same folder: each file once
    found = sorted({Path(p).resolve() for p in root.glob("train-data*/synth/videos/*.mp4")})
    by: dict[str, list[Path]] = {}
    for v in found:
        if "-nm-" not in v.name:
            continue
        by.setdefault(v.name.split("-")[0], []).append(v)
    assert len(by) >= 3
    return by


@pytest.fixture(scope="session")
def server_args(local_model, tmp_path_factory) -> object:
    db = tmp_path_factory.mktemp("registry") / "r.db"
    return ServeConfig(registry_url=f"sqlite:///{db}", port=free_port(), max_replicas=1)


@pytest.fixture(scope="session")
def server(server_args, local_model, monkeypatch_session) -> str:
    from ray import serve

    monkeypatch_session.setenv("GAIT_TOKEN", TOKEN)
    monkeypatch_session.setenv("GAIT_MAX_UPLOAD", str(4 << 20))
    url = start(server_args, ServePaths(str(local_model)))
    yield url
    serve.shutdown()


@pytest.fixture(scope="session")
def monkeypatch_session():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


MARIADBD = shutil.which("mariadbd") or ("/usr/sbin/mariadbd" if Path("/usr/sbin/mariadbd").exists() else None)


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory) -> str:
    """A real MariaDB server on 127.0.0.1 (a free port, its own data dir), for this test session only: the
    SQLAlchemy URL of its root user (no grant tables: nothing else can reach a loopback port's temp server).
    Skipped where MariaDB is not installed, except under CI, which installs it (.ci/run)."""
    if MARIADBD is None or shutil.which("mariadb-install-db") is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI needs mariadb-server (.ci/run installs it)")
        pytest.skip("no MariaDB server on this machine (apt-get install mariadb-server)")
    data = tmp_path_factory.mktemp("mariadb")
    user = ["--user=root"] if os.getuid() == 0 else []
    subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={data}",
            "--skip-test-db",
            "--auth-root-authentication-method=normal",
            *user,
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            MARIADBD,
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={data}/mysqld.sock",
            f"--pid-file={data}/mysqld.pid",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--skip-grant-tables",
            "--skip-name-resolve",
            *user,
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(data / "server.log", "wb"),  # noqa: SIM115  (open while the server runs)
    )
    import pymysql

    deadline = time.time() + 60
    while True:
        try:
            pymysql.connect(host="127.0.0.1", port=port, user="root").close()
            break
        except pymysql.err.OperationalError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError((data / "server.log").read_text()[-2000:]) from None
            time.sleep(0.3)
    yield f"mysql+pymysql://root@127.0.0.1:{port}"
    proc.terminate()
    proc.wait(30)


def new_mariadb_database(server_url: str) -> str:
    """A fresh database on the session's server; its URL."""
    import pymysql

    host_port = server_url.split("@", 1)[1]
    host, port = host_port.split(":")
    name = f"gait_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(host=host, port=int(port), user="root")
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    conn.close()
    return f"{server_url}/{name}?charset=utf8mb4"
