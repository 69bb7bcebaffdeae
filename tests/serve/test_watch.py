"""`gait watch`: sliding windows over a video, identified through the endpoint and locally."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pipeline.serve.watch import LocalIdentifier, RemoteIdentifier, watch, windows


def test_windows_slide():
    stream = ((float(i), np.full((2, 2, 3), i, np.uint8)) for i in range(10))
    got = [(t, [int(f[0, 0, 0]) for f in w]) for t, w in windows(stream, 4, 3)]
    assert got == [(3.0, [0, 1, 2, 3]), (6.0, [3, 4, 5, 6]), (9.0, [6, 7, 8, 9])]


def test_watch_through_the_endpoint(server, videos):
    video = videos[sorted(videos)[1]][0]
    seen = list(watch(str(video), RemoteIdentifier(server, "hall"), window=12, step=6))
    assert len(seen) >= 2
    for s in seen:
        assert s.identity and s.line().startswith("t=")
        assert s.identity != "-" or s.detail  # an answer, or the endpoint's reason


def test_watch_locally(local_model, videos, tmp_path):
    from pipeline.common.model_dir import ModelInfo
    from pipeline.identify.embed import load_embedder
    from pipeline.models.embedding import embed_clips_shared
    from pipeline.serve.registry import Registry
    from pipeline.serve.uploads import ClipMaker

    info = ModelInfo(local_model)
    maker, embedder = ClipMaker(info.preprocess, info.column), load_embedder(local_model)
    registry = Registry(f"sqlite:///{tmp_path}/r.db", info.version)
    for person in sorted(videos)[:2]:
        vecs = embed_clips_shared(embedder, maker.from_video(videos[person][0].read_bytes()))
        registry.enroll(person, vecs, ["v"] * len(vecs))
    probe = videos[sorted(videos)[0]][1]
    seen = list(watch(str(probe), LocalIdentifier(str(local_model), registry.url), window=12, step=6))
    assert seen and {s.identity for s in seen} <= {*sorted(videos)[:2], "unknown", "-"}
    assert any(s.identity != "-" for s in seen)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["watch", "missing.mp4", "--model", "m"], "either --url"),
        (["watch", "missing.mp4", "--url", "http://127.0.0.1:9"], "cannot open"),
        (["watch", "x.mp4"], "either --url"),
    ],
)
def test_watch_cli_errors(argv, message):
    if argv[2:4] == ["--model", "m"]:
        argv += ["--url", "http://127.0.0.1:9"]  # both given
    r = subprocess.run([sys.executable, "-m", "pipeline.cli", *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and message in r.stderr
