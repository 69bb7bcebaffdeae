"""Benchmark: `gait search` streams the gallery, so its memory must not grow with the archive.

    .venv/bin/python bench/bench_search.py [--sizes 20000 200000] [--clips 3] [--dim 128]

Two synthetic galleries (random unit vectors in the gallery's own schema: `--clips` clip rows and a mean row per
sequence, in parts of 5,000 sequences as `gait index` commits them) are searched for 8 probes, top 10. Each side
runs in a fresh process, which reports its peak resident memory (ru_maxrss) and its time:
- `search`: pipeline.identify.search.search (the mean rows batch by batch, a running top-k per probe);
- `whole_table`: the baseline, what the gallery's reader alone offers: read_gallery(means_only=True), then one
  matrix product over every walk.
Both must find the same walks. Results: bench/results/search.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.identify.gallery import MEAN_ROW, Gallery, gallery_schema  # noqa: E402

VERSION = "bench0000000000"
PART = 5000  # sequences a part

SIDE = f"""
import json, resource, sys, time
import numpy as np
gallery, side = sys.argv[1], sys.argv[2]
probes = np.random.default_rng(1).normal(size=(8, int(sys.argv[3]))).astype(np.float32)
t0 = time.perf_counter()
if side == "search":
    from pipeline.identify.search import search
    hits, searched = search(gallery, "{VERSION}", probes, top_k=10)
    found = [[h.sequence_id for h in q] for q in hits]
else:
    from pipeline.identify.gallery import read_gallery, vectors
    table = read_gallery(gallery, "{VERSION}", means_only=True)
    vecs = vectors(table)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit(probes) @ unit(vecs).T
    ids = table["sequence_id"].to_pylist()
    found = [[ids[i] for i in np.argsort(-s, kind="stable")[:10]] for s in sims]
    searched = len(ids)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"seconds": seconds, "peak_rss": peak, "searched": searched, "found": found}}))
"""


def make_gallery(path: Path, sequences: int, clips: int, dim: int) -> None:
    """`sequences` walks of random vectors, each with `clips` clip rows and its mean row."""
    rng = np.random.default_rng(0)
    g = Gallery.at(str(path))
    schema = gallery_schema(dim)
    for start in range(0, sequences, PART):
        n = min(PART, sequences - start)
        vecs = rng.normal(size=(n, clips + 1, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=2, keepdims=True)
        rows = n * (clips + 1)
        seq = np.repeat(np.arange(start, start + n), clips + 1)
        clip = np.tile(np.r_[np.arange(clips), MEAN_ROW], n).astype(np.int32)
        ids = [f"{s:016x}" for s in seq]
        columns = {
            "sequence_id": ids,
            "clip_index": clip,
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1)), dim),
            "subject": [None] * rows,
            "condition": [None] * rows,
            "sequence": [None] * rows,
            "view": [None] * rows,
            "source": [f"/archive/cam{s % 7}/{s:08d}.mp4" for s in seq],
            "layout": ["generic"] * rows,
            "frame_start": (np.maximum(clip, 0) * 12).astype(np.int32),
            "clips": np.full(rows, clips, np.int32),
            "content_hash": ids,
            "model_version": [VERSION] * rows,
            "committed_at": np.full(rows, start, np.int64),
            "input_id": ids,
            "track_id": [None] * rows,
            "first_frame": [None] * rows,
            "last_frame": [None] * rows,
            "boxes": [None] * rows,
        }
        g.commit(pa.table(columns, schema=schema), VERSION)


def run_side(gallery: Path, side: str, dim: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SIDE, str(gallery), side, str(dim)], cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs=2, default=[20000, 200000], help="sequences of the two galleries")
    ap.add_argument("--clips", type=int, default=3, help="clip rows per sequence")
    ap.add_argument("--dim", type=int, default=128, help="vector size (the demo's)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "search.json"))
    args = ap.parse_args()
    results: dict = {
        "benchmark": "search",
        "machine": platform.platform(),
        "clips_per_sequence": args.clips,
        "dim": args.dim,
        "sizes": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for size in args.sizes:
            gallery = Path(tmp) / f"g{size}"
            t0 = time.perf_counter()
            make_gallery(gallery, size, args.clips, args.dim)
            print(f"gallery of {size} walks ({size * (args.clips + 1)} rows) made in {time.perf_counter() - t0:.1f} s")
            sides = {side: run_side(gallery, side, args.dim) for side in ("search", "whole_table")}
            assert sides["search"]["found"] == sides["whole_table"]["found"], "the two sides found other walks"
            for side, r in sides.items():
                mib = r["peak_rss"] / 2**20
                print(f"  {side:<12} {r['searched']:>8} walks  {r['seconds']:6.2f} s  peak RSS {mib:7.1f} MiB")
            results["sizes"][str(size)] = {s: {k: v for k, v in r.items() if k != "found"} for s, r in sides.items()}
    small, large = (results["sizes"][str(s)] for s in args.sizes)
    growth = {s: large[s]["peak_rss"] / small[s]["peak_rss"] for s in ("search", "whole_table")}
    results["peak_rss_growth"] = growth
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    x = args.sizes[1] / args.sizes[0]
    print(
        f"search: {x:g}× the walks: peak memory ×{growth['search']:.2f} streamed, ×{growth['whole_table']:.2f} "
        f"whole table; the same walks found; {args.out}"
    )


if __name__ == "__main__":
    main()
