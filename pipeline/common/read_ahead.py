"""How far ahead Ray Data may read: a cap on the object-store bytes one dataset's execution holds.

Without it a streaming read fills whatever share of the object store Ray Data's budget gives it, and that share
(and the pages every reader maps) grows with the data there is to read ahead, so peak memory would follow the
dataset's size. With it, what a streaming consumer holds is bounded by configuration, not by the data.
"""

from __future__ import annotations

from typing import Any

READ_AHEAD_BYTES = 512 * 2**20  # per streaming consumer (a Train worker, an embedding actor)


def limit_read_ahead(ds: Any, object_store_bytes: int) -> None:
    """Cap the object-store bytes this dataset's execution may hold (its own context, not the process's)."""
    limits = ds.context.execution_options.resource_limits
    cap = min(limits.object_store_memory, object_store_bytes)
    ds.context.execution_options.resource_limits = limits.copy(object_store_memory=cap)


def capped_ingest_options(object_store_bytes: int = READ_AHEAD_BYTES) -> Any:
    """Ray Train's default ingest options (the driver's DataContext) with the object-store share capped."""
    import ray.train

    options = ray.train.DataConfig.default_ingest_options()
    limits = options.resource_limits
    options.resource_limits = limits.copy(object_store_memory=min(limits.object_store_memory, object_store_bytes))
    return options
