"""What the server refuses and cleans up: no token → no start; uploads leave no files; timeouts are 504."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pipeline.serve.api import ApiError, with_timeout


def test_refuses_to_start_with_admin_and_no_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAIT_TOKEN")}
    r = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "serve", "--model", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0 and "no token is set" in r.stderr


def test_uploads_leave_no_files(local_model, videos):
    from pipeline.common.model_dir import ModelInfo
    from pipeline.serve.uploads import BadInput, ClipMaker

    info = ModelInfo(local_model)
    maker = ClipMaker(info.preprocess, info.column)
    tmp = Path(tempfile.gettempdir())
    before = set(tmp.glob("gait-upload-*"))
    clips = maker.from_video(next(iter(videos.values()))[0].read_bytes())
    assert len(clips) >= 1
    with pytest.raises(BadInput):
        maker.from_video(b"\x00" * 1000)
    with pytest.raises(BadInput):
        maker.from_images([b"not an image"])
    assert set(tmp.glob("gait-upload-*")) == before


def test_timeouts_are_504_and_dead_replicas_503():
    from ray.exceptions import RayActorError

    with pytest.raises(ApiError) as e:
        asyncio.run(with_timeout(asyncio.sleep(5), 0.05))
    assert e.value.status == 504

    async def dies() -> None:
        raise RayActorError()

    with pytest.raises(ApiError) as e:
        asyncio.run(with_timeout(dies(), 5))
    assert e.value.status == 503
