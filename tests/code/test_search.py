"""Searching a gallery whose walks are known by hand: nearest first, the newest content of a re-indexed walk
only, small batches merged as one."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pipeline.identify.gallery import MEAN_ROW, Gallery, gallery_schema
from pipeline.identify.search import search

DIM = 4


def _commit(g: Gallery, rows: list[tuple[str, str, list[float], int]]) -> None:
    """Mean rows (sequence_id, content_hash, vector, committed_at), each with one clip row beside it."""
    cols: dict[str, list] = {f.name: [] for f in gallery_schema(DIM)}
    for sid, content, vec, at in rows:
        for clip in (0, MEAN_ROW):
            row = {f: None for f in cols} | {
                "sequence_id": sid,
                "clip_index": clip,
                "embedding": vec if clip == MEAN_ROW else [0.0, 0.0, 0.0, 1.0],  # clip rows are never searched
                "source": f"/cams/{sid}.mp4",
                "content_hash": content,
                "model_version": "v1",
                "committed_at": at,
            }
            for name, value in row.items():
                cols[name].append(value)
    g.commit(pa.table(cols, schema=gallery_schema(DIM)), "v1")


def test_nearest_first_and_only_the_newest_content_of_a_walk(tmp_path):
    g = Gallery.at(str(tmp_path / "gallery"))
    _commit(g, [("a", "a1", [1, 0, 0, 0], 1), ("b", "b1", [0.6, 0.8, 0, 0], 1), ("c", "c1", [0, 1, 0, 0], 1)])
    # c re-indexed after its video changed: its old vector would be the nearest, but it is no longer the walk
    _commit(g, [("c", "c2", [0, 0, 1, 0], 2), ("d", "d1", [0.8, 0.6, 0, 0], 2)])
    hits, searched = search(str(tmp_path / "gallery"), "v1", np.array([[0.0, 1.0, 0.0, 0.0]]), top_k=3, batch_rows=1)
    assert searched == 4
    assert [(h.sequence_id, h.similarity) for h in hits[0]] == [("b", 0.8), ("d", 0.6), ("a", 0.0)]
    assert hits[0][0].source == "/cams/b.mp4" and hits[0][0].track_id is None

    both, _ = search(str(tmp_path / "gallery"), "v1", np.array([[0, 0, 2.0, 0], [1.0, 0, 0, 0]]), top_k=1)
    assert [h[0].sequence_id for h in both] == ["c", "a"]  # each probe its own best; vectors compared unit-length
    rest, searched = search(str(tmp_path / "gallery"), "v1", np.array([[1.0, 0, 0, 0]]), exclude=frozenset("ad"))
    assert searched == 2 and [h.sequence_id for h in rest[0]] == ["b", "c"]
