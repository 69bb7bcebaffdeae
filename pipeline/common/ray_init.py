"""Starting or joining Ray the same way everywhere: embedded on a laptop, by address on a cluster."""

from __future__ import annotations

import os
from typing import Any

import ray

# Environment every Ray worker and Serve replica needs before it imports TensorFlow (see pipeline/__init__.py).
WORKER_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def runtime_env(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The runtime_env for jobs, tasks, actors, Train workers and Serve replicas."""
    env: dict[str, Any] = {"env_vars": dict(WORKER_ENV)}
    if extra:
        env.update(extra)
    return env


def ensure_ray(address: str | None = None, num_cpus: int | None = None, **kwargs: Any) -> None:
    """Join `address` (or $RAY_ADDRESS) when given, else start an embedded local Ray; no-op if already up."""
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    init_kwargs: dict[str, Any] = {"runtime_env": runtime_env(), "log_to_driver": True, **kwargs}
    if address is None:
        init_kwargs.setdefault("include_dashboard", False)
        if num_cpus is not None:
            init_kwargs["num_cpus"] = num_cpus
    ray.init(address=address, **init_kwargs)
