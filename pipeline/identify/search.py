"""Searching a gallery: the archive's walks nearest to a probe, as `gait search` lists them.

A gallery has one mean vector per sequence (a labelled walk, or one person's track in footage). A probe's vector
is compared with each by cosine similarity, and the `top_k` best are kept per probe. The mean rows are streamed
one record batch at a time (one file read ahead), so the vectors' memory stays flat however large the archive.
Only the keys are read whole first, in Arrow, to find the sequences indexed with more than one content and keep
their newest, as `read_gallery` does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from pipeline.identify.embed import unit_rows
from pipeline.identify.gallery import MEAN_ROW, Gallery, vectors

# Arrow's defaults (16 batches of 4 files ahead) would hold far more than the batch at hand: memory then grows
# with the number of files read ahead, not with what the search keeps.
READ_AHEAD = {"batch_readahead": 2, "fragment_readahead": 1}
HIT_COLUMNS = ["sequence_id", "source", "subject", "track_id", "first_frame", "last_frame"]


@dataclass(frozen=True)
class Hit:
    """One archive walk found for a probe."""

    similarity: float
    sequence_id: str
    source: str
    subject: str | None  # the layout's label; None in unlabeled footage
    track_id: int | None  # footage: the person's track in `source`, and its span
    first_frame: int | None
    last_frame: int | None

    def where(self) -> str:
        span = "" if self.track_id is None else f" track {self.track_id}, frames {self.first_frame}–{self.last_frame}"
        return f"{self.source}{span}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stale(dataset: pads.Dataset) -> dict[str, str]:
    """sequence_id → its newest content_hash, for the sequences indexed with more than one content (rare: a
    source re-indexed after it changed); their other rows are stale. Only the keys are read, in Arrow."""
    keys = dataset.scanner(
        columns=["sequence_id", "content_hash", "committed_at"],
        filter=pads.field("clip_index") == MEAN_ROW,
        **READ_AHEAD,
    ).to_table()
    counts = keys.group_by("sequence_id").aggregate([("content_hash", "count_distinct")])
    twice = counts.filter(pc.greater(counts["content_hash_count_distinct"], 1))["sequence_id"]
    if not len(twice):
        return {}
    keys = keys.filter(pc.is_in(keys["sequence_id"], twice)).sort_by([("committed_at", "ascending")])
    return dict(zip(keys["sequence_id"].to_pylist(), keys["content_hash"].to_pylist(), strict=True))  # newest last


def search(
    gallery: str,
    model_version: str,
    probes: np.ndarray,
    *,
    top_k: int = 10,
    exclude: frozenset[str] = frozenset(),
    batch_rows: int = 8192,
) -> tuple[list[list[Hit]], int]:
    """The `top_k` gallery walks nearest to each probe vector ([Q, D]), best first, and how many walks were
    searched. `exclude`: sequence ids left out (a probe taken from the gallery itself)."""
    g = Gallery.at(gallery)
    files = g.part_files(model_version)
    if not files:
        raise FileNotFoundError(f"{gallery} has no vectors for model version {model_version}")
    dataset = pads.dataset(files, filesystem=g.fs, format="parquet")
    newest = _stale(dataset)
    queries = unit_rows(np.atleast_2d(probes))
    best_sims = np.full((len(queries), 0), -np.inf, np.float32)
    best_rows: list[dict[str, Any]] = []  # the rows behind the columns of best_sims
    searched = 0
    scanner = dataset.scanner(
        columns=[*HIT_COLUMNS, "content_hash", "embedding"],
        filter=pads.field("clip_index") == MEAN_ROW,
        batch_size=batch_rows,
        **READ_AHEAD,
    )
    for batch in scanner.to_batches():
        ids, hashes = batch["sequence_id"].to_pylist(), batch["content_hash"].to_pylist()
        mask = [newest.get(s, h) == h and s not in exclude for s, h in zip(ids, hashes, strict=True)]
        table = pa.Table.from_batches([batch.filter(pa.array(mask, pa.bool_()))])
        if not table.num_rows:
            continue
        searched += table.num_rows
        best_sims = np.concatenate([best_sims, queries @ unit_rows(vectors(table)).T], axis=1)  # [Q, kept + B]
        best_rows += table.select(HIT_COLUMNS).to_pylist()
        if best_sims.shape[1] > top_k:  # keep each probe's top_k; a row stays while any probe keeps it
            top = np.argpartition(-best_sims, top_k - 1, axis=1)[:, :top_k]
            cols = np.unique(top)
            best_sims, best_rows = best_sims[:, cols], [best_rows[c] for c in cols]
    hits = []
    for q in range(len(queries)):
        order = np.argsort(-best_sims[q], kind="stable")[:top_k]
        hits.append([Hit(round(float(best_sims[q, c]), 4), **best_rows[c]) for c in order])
    return hits, searched


def gallery_vector(gallery: str, model_version: str, sequence_id: str) -> tuple[np.ndarray, str]:
    """A gallery walk's mean vector and source: a probe for "more walks like this one"."""
    g = Gallery.at(gallery)
    files = g.part_files(model_version)
    if not files:
        raise FileNotFoundError(f"{gallery} has no vectors for model version {model_version}")
    flt = (pads.field("clip_index") == MEAN_ROW) & (pads.field("sequence_id") == sequence_id)
    table = pads.dataset(files, filesystem=g.fs, format="parquet").to_table(
        columns=["embedding", "committed_at", "source"], filter=flt
    )
    if not table.num_rows:
        raise ValueError(f"{gallery} has no sequence {sequence_id} for model version {model_version}")
    newest = int(np.argmax(table["committed_at"].to_numpy()))
    return vectors(table.slice(newest, 1))[0], table["source"][newest].as_py()
