"""The index stage's one entry: a config, an archive, a model and a gallery in, the indexing summary out."""

from __future__ import annotations

from pipeline.identify.config import IndexConfig, IndexPaths
from pipeline.identify.index import IndexSummary, index_archive


def run(config: IndexConfig, paths: IndexPaths, *, address: str | None = None) -> IndexSummary:
    """Index every sequence of `paths.archive` not yet in the gallery `paths.out` for this model's version
    (a re-run resumes; it never writes a row twice)."""
    return index_archive(
        paths.archive,
        paths.model,
        paths.out,
        layout=config.layout,
        actors=config.actors,
        cpus_per_actor=config.cpus_per_actor,
        gpus_per_actor=config.gpus_per_actor,
        threads_per_actor=config.threads_per_actor,
        embed_batch=config.batch_size,
        sequences_per_task=config.sequences_per_task,
        commit_every=config.commit_every,
        ray_address=address,
    )
