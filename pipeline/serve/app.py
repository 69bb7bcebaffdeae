"""The Ray Serve application: FastAPI ingress (`Api`) → `Embedder` and `Classifier`, composed through
DeploymentHandles.

`build(args)` is a Serve application builder, so the same application runs locally (`gait serve`), with
`serve run pipeline.serve.app:build model_dir=...`, and on a cluster from the config YAML that
`serve build pipeline.serve.app:build` writes (cluster/serve.yaml).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from ray import serve

from pipeline import KERAS_MODE
from pipeline.common.model_dir import cache_root
from pipeline.common.storage import is_remote
from pipeline.serve import deployments
from pipeline.serve.api import MAX_UPLOAD, Service, create_app, set_current

fastapi_app = create_app(int(os.environ.get("GAIT_MAX_UPLOAD", MAX_UPLOAD)))


@serve.deployment(max_ongoing_requests=64, ray_actor_options={"num_cpus": 0.25})
@serve.ingress(fastapi_app)
class Api:
    def __init__(
        self, embedder: Any, classifier: Any, model_dir: str, registry_url: str, admin: bool, timeout_s: float
    ) -> None:
        set_current(Service(embedder, classifier, model_dir, registry_url, admin, timeout_s))


@dataclass(frozen=True)
class ServeArgs:
    """What `build` takes (the `args` of a Serve config's application; strings from the command line)."""

    model_dir: str
    registry_url: str = ""  # default: sqlite:///<model_dir>/../registry.db
    gallery: str = ""  # a gallery (gait index) whose labelled sequences are enrolled once
    admin: bool = True  # enrol / delete / list, behind the token
    token_file: str = ""  # where replicas read the token (GAIT_TOKEN_FILE); the secret never goes in a config
    threshold: float | None = None  # cosine similarity under which: "unknown" (None: the one gait evaluate measured)
    min_replicas: int = 1
    max_replicas: int = 2
    embedder_cpus: float = 1.0
    embedder_gpus: float = 0.0
    threads: int = 0  # TensorFlow threads per embedder replica (0: its default)
    timeout_s: float = 60.0

    @classmethod
    def parse(cls, args: dict[str, Any]) -> ServeArgs:
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(args) - set(known)
        if unknown:
            raise ValueError(f"unknown application args: {sorted(unknown)}")
        out: dict[str, Any] = {}
        for k, v in args.items():
            kind = known[k]
            if kind == "bool" and isinstance(v, str):
                v = v.lower() in ("1", "true", "yes")
            elif kind == "float | None":
                v = None if v is None or str(v).lower() in ("", "none", "null") else float(v)
            elif kind in ("int", "float"):
                v = {"int": int, "float": float}[kind](v)
            out[k] = v
        return cls(**out)

    def registry(self) -> str:
        """The registry URL: as given, else a SQLite file beside a local model directory (for a model at a URI,
        in the local model cache: give a shared database's URL when replicas run on several nodes)."""
        if self.registry_url:
            return self.registry_url
        if is_remote(self.model_dir):
            return f"sqlite:///{cache_root().absolute()}/registry.db"
        parent = os.path.dirname(os.path.abspath(self.model_dir.rstrip("/")))
        return f"sqlite:///{parent}/registry.db"


def build(args: dict[str, Any]) -> Any:
    """The application for `args` (see ServeArgs)."""
    a = ServeArgs.parse(args)
    env = dict(KERAS_MODE)
    embedder = serve.deployment(
        deployments.Embedder,
        name="Embedder",
        autoscaling_config={
            "min_replicas": a.min_replicas,
            "max_replicas": a.max_replicas,
            "target_ongoing_requests": 4,
            "upscale_delay_s": 5,
            "downscale_delay_s": 30,
        },
        max_ongoing_requests=32,
        ray_actor_options={"num_cpus": a.embedder_cpus, "num_gpus": a.embedder_gpus, "runtime_env": {"env_vars": env}},
    ).bind(a.model_dir, a.threads)
    classifier = serve.deployment(
        deployments.Classifier,
        name="Classifier",
        autoscaling_config={"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8},
        ray_actor_options={"num_cpus": 0.25},
        user_config={"threshold": a.threshold, "gallery": a.gallery},  # reconfigure: no restart to change
    ).bind(a.registry(), a.model_dir, a.threshold)
    api_env = env | ({"GAIT_TOKEN_FILE": a.token_file} if a.token_file else {})
    return Api.options(ray_actor_options={"num_cpus": 0.25, "runtime_env": {"env_vars": api_env}}).bind(
        embedder, classifier, a.model_dir, a.registry(), a.admin, a.timeout_s
    )


def from_env() -> Any:
    """The application as a cluster deploys it (`cluster/serve.yaml`): settings from GAIT_* variables of the
    config's runtime_env, so `serve build pipeline.serve.app:app` works without a model at hand."""
    env = os.environ
    return build(
        {
            "model_dir": env.get("GAIT_MODEL_DIR", "/mnt/models/model"),
            "registry_url": env.get("GAIT_REGISTRY_URL", ""),
            "gallery": env.get("GAIT_GALLERY", ""),
            "admin": env.get("GAIT_ADMIN", "true"),
            "token_file": env.get("GAIT_TOKEN_FILE", ""),
            "min_replicas": env.get("GAIT_MIN_REPLICAS", "1"),
            "max_replicas": env.get("GAIT_MAX_REPLICAS", "4"),
            "embedder_gpus": env.get("GAIT_GPUS_PER_REPLICA", "0"),
            "threshold": env.get("GAIT_THRESHOLD", ""),
        }
    )


app = from_env()
