"""Benchmark: identify over HTTP with a 30-frame clip at concurrency 1, 8 and 32 — the Ray Serve application
(batched Embedder, Classifier, FastAPI ingress) against a one-process FastAPI/uvicorn app serving the same model
with the same code (bench/serve_baseline.py), in one run; then autoscaling under sustained load: the
Embedder's replicas over time, plotted.

    make demo                                    # the model and gallery (runs/demo)
    .venv/bin/python bench/bench_serve.py        # 20 s per concurrency and side
    .venv/bin/python bench/bench_serve.py --seconds 5 --no-autoscaling

The load generator runs on the same machine (threads with keep-alive sessions), as does everything else.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.serve.stage import free_port  # noqa: E402  (after sys.path)


def clip_video(src: Path, out: Path, frames: int = 30) -> bytes:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for _ in range(frames):
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(frame)
    writer.release()
    return out.read_bytes()


def load(url: str, body: bytes, concurrency: int, seconds: float) -> dict:
    """`concurrency` clients posting the clip back to back for `seconds`: throughput and latency."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def client() -> None:
        nonlocal errors
        with requests.Session() as s:
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                r = s.post(url, data=body, headers={"Content-Type": "video/mp4"}, timeout=300)
                with lock:
                    if r.status_code == 200:
                        latencies.append(time.perf_counter() - t0)
                    else:
                        errors += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for f in [pool.submit(client) for _ in range(concurrency)]:
            f.result()
    elapsed = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
    }


def start_serve(model: Path, registry: str, min_r: int, max_r: int, cpus: float) -> str:
    from ray import serve

    from pipeline.common.ray_init import ensure_ray
    from pipeline.serve.app import build

    ensure_ray()
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    app = build(
        {
            "model_dir": str(model),
            "registry_url": registry,
            "admin": False,
            "min_replicas": min_r,
            "max_replicas": max_r,
            "embedder_cpus": cpus,
        }
    )
    serve.run(app, name="gait", route_prefix="/")
    return f"http://127.0.0.1:{port}"


def embedder_replicas() -> int:
    from ray import serve

    states = serve.status().applications["gait"].deployments["Embedder"].replica_states
    return int(states.get("RUNNING", 0))


def autoscaling(model: Path, registry: str, body: bytes, load_s: float, idle_s: float, out_png: Path) -> dict:
    """min 1, max 2 replicas (half a CPU each, so two fit on 2 CPUs): sustained load at concurrency 16, then none."""
    from ray import serve

    url = start_serve(model, registry, 1, 2, 0.5) + "/identify"
    samples: list[tuple[float, int, str]] = []
    t0 = time.perf_counter()
    stop = threading.Event()

    def sample() -> None:
        phase = "load"
        while not stop.is_set():
            t = time.perf_counter() - t0
            phase = "load" if t < load_s else "idle"
            samples.append((round(t, 1), embedder_replicas(), phase))
            time.sleep(1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    load(url, body, 16, load_s)
    deadline = time.perf_counter() + idle_s
    while time.perf_counter() < deadline:
        time.sleep(1)
        if samples and samples[-1][2] == "idle" and samples[-1][1] == 1 and max(s[1] for s in samples) > 1:
            time.sleep(3)
            break
    stop.set()
    sampler.join()
    serve.shutdown()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.step([s[0] for s in samples], [s[1] for s in samples], where="post")
    ax.axvspan(0, load_s, alpha=0.15, label="16 concurrent clients")
    ax.set_xlabel("seconds")
    ax.set_ylabel("Embedder replicas")
    ax.set_yticks([0, 1, 2])
    ax.legend(loc="upper right")
    ax.set_title("Ray Serve autoscaling under sustained load (min 1, max 2)")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    counts = [s[1] for s in samples]
    peak = int(np.argmax(counts)) if counts else 0
    return {
        "max_replicas_seen": max(counts) if counts else 0,
        "back_to_min": bool(counts) and counts[-1] == 1 and max(counts) > 1,
        "first_at_max_s": next((s[0] for s in samples if s[1] == max(counts)), None),
        "back_to_min_s": next((s[0] for s in samples[peak:] if s[1] == 1), None),
        "samples": samples,
        "plot": str(out_png),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="runs/demo/model")
    ap.add_argument("--gallery", default="runs/demo/gallery")
    ap.add_argument("--seconds", type=float, default=20.0, help="per concurrency and side")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--no-autoscaling", action="store_true")
    ap.add_argument("--out", default="bench/results/serve.json")
    args = ap.parse_args()
    model = Path(args.model).resolve()

    from pipeline.common.model_dir import ModelInfo
    from pipeline.serve.registry import Registry, seed_from_gallery

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    registry = f"sqlite:///{work}/registry.db"
    seed_from_gallery(Registry(registry, ModelInfo(model).version), str(Path(args.gallery).resolve()))
    src = sorted((ROOT / "runs/demo/synth/videos").glob("*-nm-*-090.mp4"))[-1]
    body = clip_video(src, work / "clip.mp4")
    levels = [int(c) for c in args.concurrency.split(",")]
    result: dict = {"benchmark": "serve", "clip": f"{src.name}, first 30 frames", "machine": platform.machine()}
    try:
        # the baseline: one uvicorn process
        port = free_port()
        env = os.environ | {"GAIT_MODEL_DIR": str(model), "GAIT_REGISTRY_URL": registry, "TF_USE_LEGACY_KERAS": "1"}
        base = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.serve_baseline:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        base_url = f"http://127.0.0.1:{port}/identify"
        for _ in range(120):
            try:
                requests.post(base_url, data=body, headers={"Content-Type": "video/mp4"}, timeout=60)
                break
            except requests.ConnectionError:
                time.sleep(1)
        serve_url = start_serve(model, registry, 1, 1, 1.0) + "/identify"
        for url in (base_url, serve_url):  # warm both
            load(url, body, 4, 3)
        rows = []
        for c in levels:  # side by side at each level
            b = load(base_url, body, c, args.seconds)
            s = load(serve_url, body, c, args.seconds)
            rows.append(
                {
                    "concurrency": c,
                    "baseline": b,
                    "serve": s,
                    "ratio": round(s["requests_per_s"] / max(b["requests_per_s"], 1e-9), 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        result["levels"] = rows
        base.terminate()
        base.wait(30)
        from ray import serve

        serve.shutdown()
        if not args.no_autoscaling:
            result["autoscaling"] = autoscaling(
                model, registry, body, 60.0, 120.0, ROOT / "bench/results/serve_autoscaling.png"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {k: v for k, v in result.items() if k != "autoscaling"}
            | {"autoscaling": {k: v for k, v in result.get("autoscaling", {}).items() if k != "samples"}},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
