"""The serve stage's one entry: deploy the application for a config and a model; `gait serve`, `gait deploy`,
the main job and the tests all start it here."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from pipeline.common.ray_init import ensure_ray
from pipeline.common.storage import is_remote
from pipeline.serve.auth import load_token, require_token_for_admin
from pipeline.serve.config import ServeConfig, ServePaths


def free_port() -> int:
    """A free TCP port on loopback (the demo's and the tests' servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token_file_for_replicas() -> str:
    """GAIT_TOKEN_FILE as given, or GAIT_TOKEN written to a private file (0600) that replicas read."""
    if os.environ.get("GAIT_TOKEN_FILE"):
        return str(Path(os.environ["GAIT_TOKEN_FILE"]).resolve())
    token = load_token()
    if not token:
        return ""
    fd, path = tempfile.mkstemp(prefix="gait-token-")
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return path


def start(config: ServeConfig, paths: ServePaths, *, address: str | None = None) -> str:
    """Deploy the application (on the cluster at `address`, else an embedded Ray); returns its URL."""
    from ray import serve

    from pipeline.serve.app import build

    admin = not config.no_admin
    require_token_for_admin(load_token(), admin)
    ensure_ray(address)
    serve.start(http_options={"host": config.host, "port": config.port})
    app = build(
        {
            "model_dir": paths.model if is_remote(paths.model) else str(Path(paths.model).resolve()),
            "gallery": paths.gallery,
            "registry_url": config.registry_url,
            "admin": admin,
            "token_file": token_file_for_replicas() if admin else "",
            "threshold": config.threshold,
            "min_replicas": config.min_replicas,
            "max_replicas": config.max_replicas,
            "embedder_gpus": config.gpus_per_replica,
        }
    )
    serve.run(app, name="gait", route_prefix="/")
    return f"http://{config.host}:{config.port}"
