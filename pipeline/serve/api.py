"""The HTTP API (FastAPI, the Serve ingress): identify, embed, pose, presence, enrol, delete, list, health,
metrics. OpenAPI docs at /docs.

Bad input is the client's error and gets a JSON answer saying what was wrong — 413 over the upload limit, 415
for a content type the endpoint does not take, 422 for input that cannot be used, 401 without the token, 504
when the model does not answer in time — never a 500.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline import __version__
from pipeline.common.model_dir import ModelInfo
from pipeline.common.skeleton import BONES, JOINT_NAMES
from pipeline.identify.embed import mean_vector
from pipeline.serve.auth import load_token, require_token_for_admin, token_matches
from pipeline.serve.dialogflow import WebhookError, answer, basic_auth_ok
from pipeline.serve.metrics import Metrics
from pipeline.serve.registry import Registry, valid_name
from pipeline.serve.uploads import BadInput, ClipMaker

MAX_UPLOAD = 64 << 20  # bytes
MAX_FRAMES_JSON = 600
VIDEO_TYPES = ("video/", "application/octet-stream")
IMAGE_TYPES = ("image/png", "image/jpeg")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


class BodyLimit:
    """ASGI middleware: 413 as soon as a body is over the limit, by Content-Length or by counting chunks."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        try:
            too_big = length is not None and int(length) > self.limit
        except ValueError:
            too_big = False
        if too_big:
            await _error(413, f"the upload is over the limit of {self.limit} bytes")(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiError(413, f"the upload is over the limit of {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


def create_app(max_upload: int = MAX_UPLOAD) -> FastAPI:
    app = FastAPI(
        title="Gait recognition",
        version=__version__,
        description="Identify people by the way they walk. Enrolment, deletion and the list of identities "
        "need `Authorization: Bearer <token>`.",
    )
    app.add_middleware(BodyLimit, limit=max_upload)
    app.middleware("http")(count_requests)
    app.include_router(router)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid input: " + "; ".join(str(e.get("msg")) for e in exc.errors()[:5]))

    return app


# -- reading inputs -------------------------------------------------------------------------------------------
async def read_body(request: Request) -> bytes:
    try:
        return await request.body()
    except ApiError:
        raise
    except Exception as exc:  # a client that hung up, a broken chunked body
        raise ApiError(422, f"could not read the request body: {exc}") from exc


async def read_form(request: Request) -> Any:
    try:
        return await request.form(max_files=16, max_fields=32)
    except ApiError:
        raise
    except Exception as exc:  # truncated or malformed multipart
        raise ApiError(422, f"malformed multipart body: {exc}") from exc


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def decode_frames_json(body: bytes) -> list[bytes]:
    """{"frames": ["<base64 PNG/JPEG>", ...]} → encoded frames."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, f"the body is not valid JSON: {exc}") from exc
    frames = payload.get("frames") if isinstance(payload, dict) else None
    if not isinstance(frames, list) or not frames or not all(isinstance(f, str) for f in frames):
        raise ApiError(422, 'expected {"frames": ["<base64 PNG or JPEG>", ...]} with at least one frame')
    if len(frames) > MAX_FRAMES_JSON:
        raise ApiError(422, f"at most {MAX_FRAMES_JSON} frames")
    try:
        return [base64.b64decode(f.split(",", 1)[-1], validate=True) for f in frames]
    except (binascii.Error, ValueError) as exc:
        raise ApiError(422, f"a frame is not valid base64: {exc}") from exc


def decode_image(data: bytes) -> np.ndarray:
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if img is None:
        raise ApiError(422, "the image could not be decoded (PNG or JPEG expected)")
    return img


def top_k_of(request: Request) -> int:
    try:
        k = int(request.query_params.get("top_k", "3"))
    except ValueError as exc:
        raise ApiError(422, "top_k must be an integer") from exc
    if not 1 <= k <= 100:
        raise ApiError(422, "top_k must be between 1 and 100")
    return k


async def with_timeout(awaitable: Any, seconds: float) -> Any:
    """A deployment's answer; 504 past `seconds`, 503 when its replica died under the call (Serve replaces it:
    the client retries)."""
    from ray.exceptions import RayActorError, RayTaskError

    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError as exc:
        raise ApiError(504, f"the model did not answer within {seconds:g} s") from exc
    except RayTaskError as exc:
        cause = exc.cause if isinstance(exc.cause, Exception) else exc
        if isinstance(cause, ValueError):  # the input, found out by the model's code
            raise ApiError(422, f"could not use the input: {cause}") from exc
        raise ApiError(503, "the model failed on this request; try again") from exc
    except (RayActorError, ConnectionError) as exc:
        raise ApiError(503, "a model replica went away; try again (it is being replaced)") from exc


OPENAPI_WALK = {
    "requestBody": {
        "required": True,
        "content": {
            "video/mp4": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"video": {"type": "string", "format": "binary"}}}
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"frames": {"type": "array", "items": {"type": "string", "format": "byte"}}},
                }
            },
        },
    }
}
OPENAPI_IMAGE = {
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in IMAGE_TYPES},
    }
}
OPENAPI_ENROL = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name", "video"],
                    "properties": {
                        "name": {"type": "string", "maxLength": 128},
                        "video": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            }
        },
    }
}


class Service:
    """What the routes do, given the two deployments' handles and the registry. Kept apart from the Serve
    ingress class so the routes are plain FastAPI."""

    def __init__(
        self,
        embedder: Any,
        classifier: Any,
        model_dir: str,
        registry_url: str,
        admin: bool = True,
        timeout_s: float = 60.0,
    ) -> None:
        self.token = load_token()
        require_token_for_admin(self.token, admin)
        self.admin = admin
        self.embedder, self.classifier = embedder, classifier
        self.info = ModelInfo(model_dir)
        self.registry = Registry(registry_url, self.info.version)
        self.clips = ClipMaker(self.info.preprocess, self.info.column)
        self.timeout_s = timeout_s

    # -- inputs → people → clips → vectors --
    async def walkers(self, request: Request) -> list[Any]:
        """Every person walking in the request's video or frames (uploads.Walker), longest-seen first."""

        ctype = content_type(request)
        try:
            if ctype == "application/json":
                frames = decode_frames_json(await read_body(request))
                return await asyncio.to_thread(self.clips.walkers_from_images, frames)
            if ctype == "multipart/form-data":
                form = await read_form(request)
                upload = form.get("video")
                if upload is None or isinstance(upload, str):
                    raise ApiError(422, "the multipart body needs a file field named 'video'")
                return await asyncio.to_thread(self.clips.walkers_from_video, await upload.read())
            if ctype.startswith(VIDEO_TYPES):
                body = await read_body(request)
                if not body:
                    raise ApiError(422, "the body is empty")
                return await asyncio.to_thread(self.clips.walkers_from_video, body)
        except BadInput as exc:
            raise ApiError(422, str(exc)) from exc
        raise ApiError(415, f"expected a video (video/*), multipart/form-data or application/json, not {ctype!r}")

    async def people_vectors(self, walkers: list[Any]) -> list[np.ndarray]:
        """Each person's clip vectors: one embedding call for all of them, split back per person."""
        vecs = await self.vectors(np.concatenate([w.clips for w in walkers]))
        return np.split(vecs, np.cumsum([len(w.clips) for w in walkers])[:-1])

    async def vectors(self, clips: np.ndarray) -> np.ndarray:
        return await with_timeout(self.embedder.embed.remote(clips), self.timeout_s)

    async def image(self, request: Request) -> np.ndarray:
        ctype = content_type(request)
        if ctype == "multipart/form-data":
            form = await read_form(request)
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise ApiError(422, "the multipart body needs a file field named 'image'")
            return decode_image(await upload.read())
        if ctype not in IMAGE_TYPES:
            raise ApiError(415, f"expected image/png or image/jpeg, not {ctype!r}")
        return decode_image(await read_body(request))

    def require_token(self, request: Request) -> None:
        if not self.admin:
            raise ApiError(403, "enrolment and deletion are disabled on this server")
        if not token_matches(self.token, request.headers.get("authorization")):
            raise ApiError(401, "a valid bearer token is needed")


_current: list[Service] = []


def set_current(service: Service) -> None:
    """The ingress replica's Service (one per process). The routes below are module-level functions, so Serve
    pickles them by reference and they see this module's state in the replica."""
    _current[:] = [service]


def current() -> Service:
    if not _current:
        raise ApiError(503, "the service is starting")
    return _current[0]


router = APIRouter()
METRICS = Metrics()  # of this process (the ingress replica)


async def count_requests(request: Request, call_next: Any) -> Any:
    t0 = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    METRICS.observe(getattr(route, "path", "unmatched"), request.method, response.status_code, time.perf_counter() - t0)
    return response


WEB = Path(__file__).parent / "web"


@router.get("/", include_in_schema=False)
async def page() -> Response:
    return Response((WEB / "index.html").read_bytes(), media_type="text/html; charset=utf-8")


@router.get("/app.js", include_in_schema=False)
async def page_js() -> Response:
    return Response((WEB / "app.js").read_bytes(), media_type="text/javascript; charset=utf-8")


@router.get("/app.css", include_in_schema=False)
async def page_css() -> Response:
    return Response((WEB / "app.css").read_bytes(), media_type="text/css; charset=utf-8")


@router.get("/health", summary="Liveness and what is loaded")
async def health() -> dict[str, Any]:
    s = current()
    return {"status": "ok", "model_version": s.info.version, "admin": s.admin}


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics() -> PlainTextResponse:
    return PlainTextResponse(METRICS.render(), media_type="text/plain; version=0.0.4")


@router.post(
    "/identify",
    summary="A walk (video or frames) → each person in it: their top-k identities or unknown, and their boxes",
    openapi_extra=OPENAPI_WALK,
)
async def identify(request: Request) -> dict[str, Any]:
    """`people` holds one answer per person found and tracked (identity, similarity, candidates, track_id,
    first/last frame, a [frame, x0, y0, x1, y1] box per frame), longest-seen first; the top level repeats the
    first person's answer (a clip of one person reads as before), except `clips`: every person's together."""
    s = current()
    k = top_k_of(request)
    walkers = await s.walkers(request)
    per_person = await s.people_vectors(walkers)
    answers = await with_timeout(asyncio.gather(*(s.classifier.identify.remote(v, k) for v in per_person)), s.timeout_s)
    people = [a | w.where() for a, w in zip(answers, walkers, strict=True)]
    camera = request.query_params.get("camera", "").strip()
    if camera:  # each person's sighting, for the Dialogflow webhook ("who was last seen on camera X")
        for a in answers:
            await asyncio.to_thread(s.registry.record_sighting, camera, a["identity"], a["similarity"])
    clips = sum(len(w.clips) for w in walkers)
    return people[0] | {"people": people, "clips": clips, "model_version": s.info.version}


@router.post("/embed", summary="A walk → each person's identification vector", openapi_extra=OPENAPI_WALK)
async def embed(request: Request) -> dict[str, Any]:
    """`people` holds each person's vector and boxes; the top level is the first (longest-seen) person's."""

    s = current()
    walkers = await s.walkers(request)
    per_person = await s.people_vectors(walkers)
    people = [
        {"vector": mean_vector(v).round(6).tolist(), "dimension": int(v.shape[1])} | w.where()
        for v, w in zip(per_person, walkers, strict=True)
    ]
    return people[0] | {"people": people, "model_version": s.info.version}


@router.post("/pose", summary="An image → the person's joints", openapi_extra=OPENAPI_IMAGE)
async def pose(request: Request) -> dict[str, Any]:
    s = current()
    frame = await s.image(request)
    result = (await with_timeout(s.embedder.pose.remote([frame]), s.timeout_s))[0]
    return result | {"joint_names": list(JOINT_NAMES), "bones": [list(b) for b in BONES]}


@router.post("/presence", summary="An image → is someone there", openapi_extra=OPENAPI_IMAGE)
async def presence(request: Request) -> dict[str, Any]:
    s = current()
    p = await with_timeout(s.embedder.presence.remote(await s.image(request)), s.timeout_s)
    return {"present": p >= 0.5, "probability": round(p, 4)}


@router.post("/identities", summary="Enrol a person from one or more walks (token)", openapi_extra=OPENAPI_ENROL)
async def enroll(request: Request) -> JSONResponse:
    s = current()
    s.require_token(request)
    if content_type(request) != "multipart/form-data":
        raise ApiError(415, "enrolment takes multipart/form-data: a field 'name' and one or more files 'video'")
    form = await read_form(request)
    try:
        name = valid_name(form.get("name"))
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    uploads = [u for u in form.getlist("video") if not isinstance(u, str)]
    if not uploads:
        raise ApiError(422, "enrolment needs one or more files in the field 'video'")
    vecs, sources = [], []
    for i, upload in enumerate(uploads):
        try:
            clips = await asyncio.to_thread(s.clips.from_video, await upload.read())
        except BadInput as exc:
            raise ApiError(422, f"video {i + 1}: {exc}") from exc
        vecs.append(await s.vectors(clips))
        sources.append([f"upload {i + 1}: {(upload.filename or '')[:200]}"] * len(clips))
    ident = await asyncio.to_thread(
        s.registry.enroll, name, np.concatenate(vecs), [x for src in sources for x in src], "api"
    )
    return JSONResponse(
        {"identity": ident.name, "id": ident.id, "vectors": ident.vectors, "created_at": ident.created_at}, 201
    )


@router.delete("/identities/{name:path}", summary="Delete a person by name: their vectors, SVM class and rows (token)")
async def delete(name: str, request: Request) -> dict[str, Any]:
    """Any enrolled name, `/` included: URL-encode it (`encodeURIComponent`); a `/` may also come unencoded,
    since the server decodes the path before routing. `DELETE /identities?id=` needs no name at all."""

    s = current()
    s.require_token(request)
    try:
        gone = await asyncio.to_thread(s.registry.delete, valid_name(name), "api")
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    except KeyError as exc:
        raise ApiError(404, f"no identity named {name!r}") from exc
    return {"deleted": name, "vectors": gone}


@router.delete("/identities", summary="Delete a person by id (`?id=`, from GET /identities) (token)")
async def delete_by_id(request: Request) -> dict[str, Any]:
    """Erasure that works for every enrolled person, whatever characters their name has."""
    s = current()
    s.require_token(request)
    raw = request.query_params.get("id")
    if raw is None:
        raise ApiError(422, "say which identity: DELETE /identities?id=<id from GET /identities>")
    try:
        ident = int(raw)
    except ValueError as exc:
        raise ApiError(422, "id must be an integer") from exc
    try:
        if not 1 <= ident < 2**63:  # no such row; a database integer could not even hold it
            raise KeyError(ident)
        name, gone = await asyncio.to_thread(s.registry.delete_id, ident, "api")
    except KeyError as exc:
        raise ApiError(404, f"no identity with id {ident}") from exc
    return {"deleted": name, "id": ident, "vectors": gone}


@router.get("/identities", summary="Enrolled people (token)")
async def identities(request: Request) -> dict[str, Any]:
    s = current()
    s.require_token(request)
    people = await asyncio.to_thread(s.registry.identities)
    return {"identities": [p.__dict__ for p in people], "count": len(people)}


@router.post("/dialogflow", summary="Dialogflow ES fulfillment webhook (WebhookRequest → WebhookResponse)")
async def dialogflow(request: Request) -> dict[str, Any]:
    s = current()
    if not basic_auth_ok(request.headers.get("authorization")):
        raise ApiError(401, "Dialogflow's basic-auth credentials do not match")
    if content_type(request) != "application/json":
        raise ApiError(415, "a WebhookRequest is application/json")
    try:
        body = json.loads(await read_body(request))
        return await asyncio.to_thread(answer, s.registry, body)
    except (ValueError, UnicodeDecodeError, WebhookError) as exc:
        raise ApiError(422, f"not a Dialogflow WebhookRequest: {exc}") from exc
