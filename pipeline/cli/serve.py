"""`gait serve` / `gait deploy` (flags → a ServeConfig and paths → `pipeline.serve.stage.start`), `gait watch`."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from dataclasses import fields

from pipeline.cli.args import add_address_argument, add_config_arguments, from_config, given, run_config
from pipeline.config import RunConfig
from pipeline.serve.config import ServeConfig, ServePaths
from pipeline.serve.stage import start
from pipeline.serve.watch import LocalIdentifier, RemoteIdentifier, WatchSummary, watch

OPTIONS = tuple(f.name for f in fields(ServeConfig))


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
    d.set_defaults(func=run_deploy, host="0.0.0.0")  # every node's proxy

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
    p.add_argument("--gallery", help="a gallery (gait index) whose labelled people are enrolled once")
    p.add_argument("--registry-url", help="SQLAlchemy URL (default: sqlite file beside the model)")
    p.add_argument("--host", help="address to bind (0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=int, help="HTTP port")
    p.add_argument("--no-admin", action="store_true", default=None, help="no enrolment, deletion or listing")
    p.add_argument(
        "--threshold",
        type=float,
        help="cosine similarity under which: unknown (default: the one gait evaluate measured for the model, else 0.5)",
    )
    p.add_argument("--min-replicas", type=int, help="embedder replicas, at least")
    p.add_argument("--max-replicas", type=int, help="embedder replicas, at most, autoscaling")
    p.add_argument("--gpus-per-replica", type=float, help="GPUs each embedder replica holds")
    add_address_argument(p)
    add_config_arguments(p)


def resolve(command: str, args: argparse.Namespace) -> tuple[RunConfig, ServePaths]:
    """The run config (serve settings layered: defaults, the file's `serve:` section, the flags), the paths."""
    cfg = run_config(command, args, "serve", given(args, OPTIONS))
    default = cfg.serve_paths()
    model = from_config(args, args.model, default.model)
    if not model:
        raise SystemExit(f"gait {command}: give --model, or --config (the model is then WORKDIR/model)")
    return cfg, ServePaths(model, from_config(args, args.gallery, default.gallery) or "")


def run(args: argparse.Namespace) -> int:
    from ray import serve

    cfg, paths = resolve("serve", args)
    url = start(cfg.serve, paths, address=args.address)
    print(f"serving on {url}  (API docs: {url}/docs; Ctrl-C stops)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    serve.shutdown()
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    cfg, paths = resolve("deploy", args)
    if not (args.address or os.environ.get("RAY_ADDRESS")):
        raise SystemExit(
            "gait deploy: no cluster to deploy onto (give --address or set RAY_ADDRESS; a Ray job has it). "
            "On this machine alone, `gait serve` runs the same application in the foreground."
        )
    url = start(cfg.serve, paths, address=args.address)
    print(f"deployed application 'gait' on the cluster: {url} (every node's proxy); it stays up after this job")
    return 0


def run_watch(args: argparse.Namespace) -> int:
    if bool(args.url) == bool(args.model):
        raise SystemExit("gait watch: give either --url (a running gait serve) or --model (identify locally)")
    if args.url:
        identify = RemoteIdentifier(args.url, args.camera)
    else:
        from pipeline.serve.app import ServeArgs  # the application module: builds Serve deployments on import

        registry = args.registry_url or ServeArgs(model_dir=args.model).registry()
        identify = LocalIdentifier(args.model, registry)
    summary = WatchSummary()
    try:
        for sighting in watch(args.source, identify, args.window, args.step, args.max_seconds, summary):
            print(sighting.line(), flush=True)
    except ValueError as exc:
        raise SystemExit(f"gait watch: {exc}") from exc
    except KeyboardInterrupt:
        pass
    print("\n".join(summary.lines()))
    return 0
