"""Shared fixtures: one real local Ray per test session, small and without the dashboard."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


@pytest.fixture(scope="session")
def ray_local():
    """A real embedded Ray with 2 CPUs and a small object store, shared by every test that needs Ray."""
    import ray

    from pipeline.common.ray_init import runtime_env

    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            object_store_memory=200 * 1024**2,
            include_dashboard=False,
            runtime_env=runtime_env(),
            log_to_driver=False,
        )
    yield ray
    ray.shutdown()
