"""The serving benchmark's baseline: one process, FastAPI on uvicorn, the same model and code as the Ray Serve
application (uploads.ClipMaker → the embedder → deployments.Classifier), no batching, no replicas.

    GAIT_MODEL_DIR=runs/demo/model GAIT_REGISTRY_URL=sqlite:///... uvicorn bench.serve_baseline:app
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import pipeline  # noqa: F401  (tf-keras)
from pipeline.common.model_dir import ModelInfo
from pipeline.identify.embed import load_embedder
from pipeline.models.embedding import embed_clips_shared
from pipeline.serve.deployments import Classifier
from pipeline.serve.uploads import BadInput, ClipMaker

MODEL = os.environ["GAIT_MODEL_DIR"]
info = ModelInfo(MODEL)
clips = ClipMaker(info.preprocess, info.column)
embedder = load_embedder(MODEL)
classifier = Classifier(os.environ["GAIT_REGISTRY_URL"], MODEL)
app = FastAPI(title="baseline")


@app.post("/identify")
async def identify(request: Request) -> Any:
    """Decoding and the model run in the default thread pool, so requests overlap as in any FastAPI app."""
    data = await request.body()

    def work() -> Any:
        c = clips.from_video(data)
        return classifier.identify(embed_clips_shared(embedder, c), 3) | {"clips": len(c)}

    try:
        return await asyncio.to_thread(work)
    except BadInput as exc:
        return JSONResponse({"error": str(exc)}, 422)
