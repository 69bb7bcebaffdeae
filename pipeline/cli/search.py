"""`gait search`: which walks of an indexed archive are nearest to a probe: a video (every person in it) or one
of the gallery's own walks. Prints each person's nearest walks, the threshold that marks a likely match, and a
summary last; `--json` writes the same for programs."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.common.atomic import atomic_write_bytes
from pipeline.common.model_dir import ModelInfo
from pipeline.identify.embed import load_embedder, mean_vector
from pipeline.identify.search import Hit, gallery_vector, search
from pipeline.models.embedding import embed_clips_shared
from pipeline.serve.uploads import BadInput, ClipMaker


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="find the walks of an indexed archive nearest to a probe video's people (or to one of its own walks)",
        description=(
            "Search GALLERY (made by `gait index` with --model) for PROBE: a video, in which every walking person is "
            "found, tracked and embedded exactly as `POST /identify` does; or, with --sequence, the sequence_id of "
            'one of the gallery\'s own walks ("more like this"). Lists the --top-k nearest walks by cosine similarity '
            "of sequence mean vectors, each with its source and, for footage, its track and frames. A walk at or "
            "above the threshold is marked as a likely match: the threshold `gait evaluate` measured for the model "
            "(1%% of strangers named), else 0.5, unless --threshold. The gallery is streamed: memory does not grow "
            "with the archive."
        ),
    )
    p.add_argument("probe", help="a video file, or with --sequence a sequence_id of the gallery")
    p.add_argument("--gallery", required=True, help="gallery directory or URI made by `gait index`")
    p.add_argument("--model", required=True, help="the model directory the gallery was indexed with")
    p.add_argument("--sequence", action="store_true", help="PROBE is a sequence_id of the gallery")
    p.add_argument("--top-k", type=int, default=10, help="walks listed per person (default: 10)")
    p.add_argument("--threshold", type=float, help="similarity from which a walk is a likely match")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.set_defaults(func=run_search)


def _probes(args: argparse.Namespace, info: ModelInfo) -> tuple[list[dict[str, Any]], np.ndarray]:
    """(who each probe is, their vectors [Q, D])."""
    if args.sequence:
        vector, source = gallery_vector(args.gallery, info.version, args.probe)
        return [{"sequence_id": args.probe, "source": source}], vector[None]
    path = Path(args.probe)
    if not path.is_file():
        raise FileNotFoundError(f"no video at {path}")
    try:
        walkers = ClipMaker(info.preprocess, info.column).walkers_from_video(path.read_bytes(), path.suffix.lower())
    except BadInput as exc:
        raise ValueError(f"{path}: {exc}") from exc
    model = load_embedder(info.dir)
    keep = ("track_id", "first_frame", "last_frame", "frames_unread")
    people = [{k: v for k, v in w.where().items() if k in keep} for w in walkers]
    return people, np.stack([mean_vector(embed_clips_shared(model, w.clips)) for w in walkers])


def _who(person: dict[str, Any], n: int, i: int, probe: str) -> str:
    if "sequence_id" in person:
        return f"walk {person['sequence_id']} ({person['source']})"
    span = f"track {person['track_id']}, frames {person['first_frame']}–{person['last_frame']}"
    return f"person {i + 1} of {n} in {Path(probe).name} ({span})"


def _line(hit: Hit, threshold: float) -> str:
    mark = "match" if hit.similarity >= threshold else "     "
    return f"  {hit.similarity:6.3f}  {mark}  {hit.subject or '-':>8}  {hit.where()}"


def run_search(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    try:
        info = ModelInfo(args.model)
        people, probes = _probes(args, info)
        exclude = frozenset({args.probe}) if args.sequence else frozenset()
        hits, searched = search(args.gallery, info.version, probes, top_k=args.top_k, exclude=exclude)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"gait search: {exc}") from exc
    threshold, why = info.choose_threshold(args.threshold, "--threshold")
    for i, (person, found) in enumerate(zip(people, hits, strict=True)):
        print(f"search: {_who(person, len(people), i, args.probe)}: the {len(found)} nearest of {searched} walks")
        print(f"  {'cosine':>6}  {'':5}  {'subject':>8}  source")
        print("\n".join(_line(h, threshold) for h in found))
    matches = sum(h.similarity >= threshold for found in hits for h in found)
    if args.json:
        record = {
            "probe": args.probe,
            "gallery": args.gallery,
            "model_version": info.version,
            "threshold": threshold,
            "threshold_from": why,
            "searched": searched,
            "people": [p | {"hits": [h.to_dict() for h in found]} for p, found in zip(people, hits, strict=True)],
        }
        atomic_write_bytes(args.json, json.dumps(record, indent=2).encode())
    unread = max((p.get("frames_unread") or 0 for p in people), default=0)
    if unread:
        print(f"search: the probe's last {unread} frames were not read (an upload's limit, docs/serving.md)")
    print(
        f"search: {len(people)} {'person' if len(people) == 1 else 'people'} searched for among {searched} walks in "
        f"{time.perf_counter() - t0:.1f} s; {matches} listed at or above the threshold {threshold:.3f} ({why})"
    )
    return 0
