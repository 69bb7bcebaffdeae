"""Starting or joining Ray the same way everywhere: embedded on a laptop, by address on a cluster."""

from __future__ import annotations

import json
import os
from typing import Any

import ray

from pipeline import KERAS_MODE

# Environment every Ray worker and Serve replica needs before it imports TensorFlow (see pipeline/__init__.py).
# Ray Data lists Parquet files through up to 32 footer-reading actors (~150 MB each) per read: on a small node
# that is GBs that grow with the number of files; a few read the footers as fast here.
WORKER_ENV = {**KERAS_MODE, "TF_CPP_MIN_LOG_LEVEL": "2", "RAY_DATA_PARQUET_FOOTER_NUM_ACTORS": "4"}


# Object-store settings (`s3://`, `gs://` through pyarrow.fs): endpoint, region, credentials. Those set where Ray
# is started or a trainer is made are handed on, so that workers on every node reach the same store.
STORAGE_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_PROFILE",
    "AWS_CA_BUNDLE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "CLOUD_STORAGE_EMULATOR_ENDPOINT",
)


def storage_env() -> dict[str, str]:
    """The STORAGE_ENV variables set in this process's environment."""
    return {k: os.environ[k] for k in STORAGE_ENV if os.environ.get(k)}


# Ray Train 2.60 starts a placement-group cleaner actor that asks the state API every second whether the run's
# controller is alive; an embedded Ray without a dashboard has no state API, so each question logs a warning (about
# a thousand lines in one `make demo`) and changes nothing: the cleaner only acts once the controller is dead.
QUIET_LOGGERS = ("ray.train.v2._internal.execution.controller.placement_group_cleaner",)


def quiet_logs() -> None:
    """Every Ray worker's setup hook: QUIET_LOGGERS report errors only."""
    import logging

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def runtime_env(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The runtime_env for jobs, tasks, actors, Train workers and Serve replicas: WORKER_ENV plus storage_env(),
    and `quiet_logs` run in every worker."""
    env: dict[str, Any] = {
        "env_vars": {**storage_env(), **WORKER_ENV},
        "worker_process_setup_hook": "pipeline.common.ray_init.quiet_logs",
    }
    if extra:
        env.update(extra)
    return env


def job_env_vars() -> set[str]:
    """The environment variables a submitted Ray job's own runtime_env sets (none outside a job)."""
    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not raw:
        return set()
    return set(((json.loads(raw).get("runtime_env") or {}).get("env_vars")) or {})


def ensure_ray(address: str | None = None, num_cpus: int | None = None, **kwargs: Any) -> None:
    """Join `address` (or $RAY_ADDRESS) when given, else start an embedded local Ray; no-op if already up."""
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    env = runtime_env()
    # Inside a Ray job, ray.init's runtime_env is merged with the job's, and Ray refuses a variable both set.
    env["env_vars"] = {k: v for k, v in env["env_vars"].items() if k not in job_env_vars()}
    init_kwargs: dict[str, Any] = {"runtime_env": env, "log_to_driver": True, **kwargs}
    if address is None:
        init_kwargs.setdefault("include_dashboard", False)
        if num_cpus is not None:
            init_kwargs["num_cpus"] = num_cpus
    ray.init(address=address, **init_kwargs)
