"""The main job's last stage: serve the trained model and gallery, identify a held-out walk over HTTP, stop.

The registry is enrolled from the gallery without the probes' own sequences, so the answers are real
identifications of people the network never trained on, against their other walks: one held-out walk, then a
clip of two held-out people walking at once (two walks side by side), each answered on their own with boxes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import requests

from pipeline.common.model_dir import ModelInfo, read_config
from pipeline.identify.gallery import MEAN_ROW, read_gallery
from pipeline.serve.config import ServeConfig, ServePaths
from pipeline.serve.registry import Registry, seed_from_gallery
from pipeline.serve.stage import free_port, start


def pick_probes(model_dir: Path, gallery: str, n: int = 3) -> list[tuple[str, str]]:
    """(source, subject) of held-out people's normal walks at 90°, not the first of their kind, one per person."""
    trained = set(read_config(model_dir)["classes"])
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
    picked: dict[str, str] = {}
    for r in rows:
        picked.setdefault(r["subject"], r["source"])
    return [(src, subj) for subj, src in list(picked.items())[:n]]


def side_by_side(left: str, right: str, out: Path) -> Path:
    """A two-person clip: two walks filmed in the same scene, one in each half of a frame twice as wide."""
    import cv2

    def frames(path: str) -> list[np.ndarray]:
        cap, out_ = cv2.VideoCapture(path), []
        while (f := cap.read()[1]) is not None:
            out_.append(f)
        cap.release()
        return out_

    a, b = frames(left), frames(right)
    h, w = a[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (2 * w, h))
    for fa, fb in zip(a, b, strict=False):
        writer.write(np.hstack([fa, fb]))
    writer.release()
    return out


def serve_and_identify(model_dir: Path, gallery: str, workdir: Path, address: str | None = None) -> list[str]:
    """Summary lines: the answer, the truth, the endpoint. Serve is shut down before returning."""
    from ray import serve

    probes = pick_probes(model_dir, gallery)
    (source, truth), pair = probes[0], probes[1:3]
    db = workdir / "registry.db"
    db.unlink(missing_ok=True)  # the demo's registry is rebuilt each run (it holds no one's real data)
    registry = Registry(f"sqlite:///{db.absolute()}", ModelInfo(model_dir).version)
    seed_from_gallery(registry, gallery, leave_out=frozenset(src for src, _ in probes))
    config = ServeConfig(registry_url=registry.url, port=free_port(), no_admin=True, max_replicas=1)
    url = start(config, ServePaths(str(model_dir)), address=address)
    try:
        data = Path(source).read_bytes()
        r = requests.post(f"{url}/identify?top_k=3", data=data, headers={"Content-Type": "video/mp4"}, timeout=300)
        answer = r.json()
        two = None
        if len(pair) == 2:
            clip = side_by_side(pair[0][0], pair[1][0], workdir / "two-people.mp4")
            two = requests.post(
                f"{url}/identify?top_k=3", data=clip.read_bytes(), headers={"Content-Type": "video/mp4"}, timeout=300
            )
    finally:
        serve.shutdown()
    if r.status_code != 200:
        return [f"  serve: {url} answered {r.status_code}: {answer.get('error')}"]
    top = ", ".join(f"{c['identity']} {c['similarity']:.2f}" for c in answer["candidates"])
    ok = "right" if answer["identity"] == truth else "wrong"
    lines = [
        f"  serve: identified {Path(source).name} over HTTP at {url}/identify: {answer['identity']} ({ok}; truth "
        f"{truth}, held out of training; top-3 {top}); {len(registry.identities())} people enrolled; "
        f"served in {np.round(r.elapsed.total_seconds(), 2)} s, then shut down",
        f"    threshold {answer['threshold']:.3f}: {answer['threshold_from']}",
    ]
    if named := answer.get("strangers_named"):
        lines.append(
            f"    against the {named['against']}, {100 * named['estimate']:.1f}% of those strangers would be named "
            f"at that threshold; {named['threshold_for_target']:.3f} would keep {100 * named['target']:g}%"
        )
    if two is not None:
        lines.append(two_people_line(two, pair))
    return lines


def two_people_line(r: requests.Response, pair: list[tuple[str, str]]) -> str:
    """The two-person clip's answer: each person found, left to right, with their identity and box."""
    if r.status_code != 200:
        return f"  serve: the two-person clip answered {r.status_code}: {r.json().get('error')}"
    people = sorted(r.json()["people"], key=lambda p: np.median([b[1] for b in p["boxes"]]))
    truths = [subject for _, subject in pair]
    said = []
    for p, truth in zip(people, truths, strict=False):
        f, x0, y0, x1, y1 = p["boxes"][len(p["boxes"]) // 2]
        mark = "right" if p["identity"] == truth else f"wrong, truth {truth}"
        sim = "" if p.get("similarity") is None else f" {p['similarity']:.2f}"
        said.append(f"{p['identity']}{sim} ({mark}) in box {x0:.0f},{y0:.0f}-{x1:.0f},{y1:.0f} at frame {f:.0f}")
    right = sum(p["identity"] == t for p, t in zip(people, truths, strict=False))
    return (
        f"  serve: a two-person clip ({Path(pair[0][0]).name} | {Path(pair[1][0]).name} side by side): "
        f"{len(people)} people found, {right} of 2 identified right: " + "; ".join(said)
    )
