"""`gait serve --model DIR [--gallery GALLERY]`: the Serve application on this machine (or a cluster)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import tempfile
import threading
from pathlib import Path

from pipeline.config import add_config_arguments


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve identification over HTTP (Ray Serve)",
        description="Run the embedder and classifier as Ray Serve deployments behind the HTTP API and web page, "
        "until Ctrl-C. Enrolment and deletion need GAIT_TOKEN (or GAIT_TOKEN_FILE) unless --no-admin.",
    )
    add_serve_arguments(p)
    p.set_defaults(func=run)

    d = sub.add_parser(
        "deploy",
        help="deploy the HTTP API onto a running Ray cluster and return (jobs/deploy.py)",
        description="Deploy the same application as `gait serve` onto the Ray cluster at --address / $RAY_ADDRESS "
        "(a Ray job has it) and return, leaving it running: Serve's controller keeps it up after this process "
        "ends. Redeploying replaces it in place. GAIT_TOKEN_FILE must name a file every node can read (a mounted "
        "secret) unless --no-admin. For a declarative deployment, `serve deploy cluster/serve.yaml` does the same.",
    )
    add_serve_arguments(d)
    d.set_defaults(func=run_deploy, host="0.0.0.0")

    w = sub.add_parser(
        "watch",
        help="identify people walking in a camera, stream or video, live",
        description="Follow SOURCE over a sliding window of frames and print who is walking: through a running "
        "`gait serve` (--url) or locally (--model and --registry-url).",
    )
    w.add_argument("source", help="camera index (0), RTSP/HTTP stream URL, or video file")
    w.add_argument("--url", help="the endpoint, e.g. http://127.0.0.1:8000")
    w.add_argument("--model", help="model directory, to identify locally")
    w.add_argument("--registry-url", default="", help="registry to identify against locally")
    w.add_argument("--camera", default="camera", help="the camera's name (for 'who was last seen on camera X')")
    w.add_argument("--window", type=int, default=48, help="frames per window")
    w.add_argument("--step", type=int, default=24, help="frames between windows")
    w.add_argument("--max-seconds", type=float, default=0.0, help="stop after this long (0: until the source ends)")
    w.set_defaults(func=run_watch)


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """The options `gait serve` and `gait deploy` share (with --config they come from its `serve:` section)."""
    p.add_argument("--model", help="model directory (gait train)")
    p.add_argument("--gallery", default="", help="a gallery (gait index) whose labelled people are enrolled once")
    p.add_argument("--registry-url", default="", help="SQLAlchemy URL (default: sqlite file beside the model)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-admin", action="store_true", help="no enrolment, deletion or listing")
    p.add_argument("--threshold", type=float, default=0.5, help="cosine similarity under which: unknown")
    p.add_argument("--min-replicas", type=int, default=1, help="embedder replicas, at least")
    p.add_argument("--max-replicas", type=int, default=2, help="embedder replicas, at most (autoscaling)")
    p.add_argument("--gpus-per-replica", type=float, default=0.0)
    p.add_argument("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)")
    add_config_arguments(p)


def free_port() -> int:
    """A free TCP port on loopback (the demo's and the tests' servers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_args(model: str, **overrides: object) -> argparse.Namespace:
    """`gait serve --model MODEL` as parsed, with `overrides` (the demo and the tests start Serve this way)."""
    sub = argparse.ArgumentParser().add_subparsers()
    add_parser(sub)
    args = sub.choices["serve"].parse_args(["--model", model])
    for key, value in overrides.items():
        if not hasattr(args, key):
            raise TypeError(f"gait serve has no option {key!r}")
        setattr(args, key, value)
    return args


def token_file_for_replicas() -> str:
    """GAIT_TOKEN_FILE as given, or GAIT_TOKEN written to a private file (0600) that replicas read."""
    from pipeline.serve.auth import load_token

    if os.environ.get("GAIT_TOKEN_FILE"):
        return str(Path(os.environ["GAIT_TOKEN_FILE"]).resolve())
    token = load_token()
    if not token:
        return ""
    fd, path = tempfile.mkstemp(prefix="gait-token-")
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return path


def start(args: argparse.Namespace) -> str:
    """Deploy the application; returns its URL."""
    from ray import serve

    from pipeline.common.ray_init import ensure_ray
    from pipeline.common.storage import is_remote
    from pipeline.serve.app import build
    from pipeline.serve.auth import load_token, require_token_for_admin

    admin = not args.no_admin
    require_token_for_admin(load_token(), admin)
    ensure_ray(args.address)
    serve.start(http_options={"host": args.host, "port": args.port})
    app = build(
        {
            "model_dir": args.model if is_remote(args.model) else str(Path(args.model).resolve()),
            "gallery": args.gallery,
            "registry_url": args.registry_url,
            "admin": admin,
            "token_file": token_file_for_replicas() if admin else "",
            "threshold": args.threshold,
            "min_replicas": args.min_replicas,
            "max_replicas": args.max_replicas,
            "embedder_gpus": args.gpus_per_replica,
        }
    )
    serve.run(app, name="gait", route_prefix="/")
    return f"http://{args.host}:{args.port}"


def run(args: argparse.Namespace) -> int:
    from ray import serve

    if not args.model:
        raise SystemExit("gait serve: give --model, or --config (the model is then WORKDIR/model)")
    url = start(args)
    print(f"serving on {url}  (API docs: {url}/docs; Ctrl-C stops)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    serve.shutdown()
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    if not args.model:
        raise SystemExit("gait deploy: give --model, or --config (the model is then WORKDIR/model)")
    if not (args.address or os.environ.get("RAY_ADDRESS")):
        raise SystemExit(
            "gait deploy: no cluster to deploy onto (give --address or set RAY_ADDRESS; a Ray job has it). "
            "On this machine alone, `gait serve` runs the same application in the foreground."
        )
    url = start(args)
    print(f"deployed application 'gait' on the cluster: {url} (every node's proxy); it stays up after this job")
    return 0


def run_watch(args: argparse.Namespace) -> int:
    from pipeline.serve.watch import LocalIdentifier, RemoteIdentifier, watch

    if bool(args.url) == bool(args.model):
        raise SystemExit("gait watch: give either --url (a running gait serve) or --model (identify locally)")
    if args.url:
        identify = RemoteIdentifier(args.url, args.camera)
    else:
        from pipeline.serve.app import ServeArgs

        registry = args.registry_url or ServeArgs(model_dir=args.model).registry()
        identify = LocalIdentifier(args.model, registry)
    try:
        for sighting in watch(args.source, identify, args.window, args.step, args.max_seconds):
            print(sighting.line(), flush=True)
    except ValueError as exc:
        raise SystemExit(f"gait watch: {exc}") from exc
    except KeyboardInterrupt:
        pass
    return 0
