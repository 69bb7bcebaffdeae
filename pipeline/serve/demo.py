"""The main job's last stage: serve the trained model and gallery, identify a held-out walk over HTTP, stop.

The registry is enrolled from the gallery without the probe's own sequence, so the answer is a real
identification of a person the network never trained on, against their other walks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import requests


def pick_probe(model_dir: Path, gallery: str) -> tuple[str, str]:
    """(source, subject) of a held-out person's normal walk at 90°, one that is not the first of its kind."""
    import json

    from pipeline.identify.gallery import MEAN_ROW, read_gallery

    trained = set(json.loads((model_dir / "config.json").read_text())["classes"])
    t = read_gallery(gallery)
    t = t.filter(t["clip_index"].to_numpy() == MEAN_ROW)
    rows = [
        r
        for r in t.select(["source", "subject", "condition", "sequence", "view"]).to_pylist()
        if r["subject"] and r["subject"] not in trained and r["condition"] == "nm" and (r["sequence"] or 0) > 1
    ]
    if not rows:
        raise ValueError("the gallery has no held-out labelled walk to identify")
    rows.sort(key=lambda r: (r["view"] != 90, r["subject"], r["sequence"]))
    return rows[0]["source"], rows[0]["subject"]


def serve_and_identify(model_dir: Path, gallery: str, workdir: Path, address: str | None = None) -> list[str]:
    """Summary lines: the answer, the truth, the endpoint. Serve is shut down before returning."""
    from ray import serve

    from pipeline.identify.embed import ModelInfo
    from pipeline.serve import cli
    from pipeline.serve.registry import Registry, seed_from_gallery

    source, truth = pick_probe(model_dir, gallery)
    db = workdir / "registry.db"
    db.unlink(missing_ok=True)  # the demo's registry is rebuilt each run (it holds no one's real data)
    registry = Registry(f"sqlite:///{db.absolute()}", ModelInfo(model_dir).version)
    seed_from_gallery(registry, gallery, leave_out=frozenset({source}))
    args = cli.serve_args(
        str(model_dir), registry_url=registry.url, port=cli.free_port(), no_admin=True, max_replicas=1, address=address
    )
    url = cli.start(args)
    try:
        data = Path(source).read_bytes()
        r = requests.post(f"{url}/identify?top_k=3", data=data, headers={"Content-Type": "video/mp4"}, timeout=300)
        answer = r.json()
    finally:
        serve.shutdown()
    if r.status_code != 200:
        return [f"  serve: {url} answered {r.status_code}: {answer.get('error')}"]
    top = ", ".join(f"{c['identity']} {c['similarity']:.2f}" for c in answer["candidates"])
    ok = "right" if answer["identity"] == truth else "wrong"
    return [
        f"  serve: identified {Path(source).name} over HTTP at {url}/identify: {answer['identity']} ({ok}; truth "
        f"{truth}, held out of training; top-3 {top}); {len(registry.identities())} people enrolled; "
        f"served in {np.round(r.elapsed.total_seconds(), 2)} s, then shut down"
    ]
