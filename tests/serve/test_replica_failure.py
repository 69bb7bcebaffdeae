"""Killing the embedder's replica under load: requests keep succeeding after a bounded number of retries, and
Serve replaces the replica."""

from __future__ import annotations

import threading
import time

import ray
import requests

MAX_RETRIES = 10


def _embedder_replicas() -> list[str]:
    return sorted(
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == "serve" and "Embedder" in a["name"] and "REPLICA" in a["name"].upper()
    )


def test_killed_replica_is_replaced_and_requests_succeed(server, videos):
    from ray import serve

    body = videos[sorted(videos)[0]][0].read_bytes()
    before = _embedder_replicas()
    assert len(before) == 1
    results: list[tuple[int, int]] = []  # (final status, retries)
    stop = threading.Event()

    def client() -> None:
        with requests.Session() as s:
            while not stop.is_set():
                for attempt in range(MAX_RETRIES + 1):
                    r = s.post(f"{server}/embed", data=body, headers={"Content-Type": "video/mp4"}, timeout=120)
                    if r.status_code == 200 or attempt == MAX_RETRIES:
                        results.append((r.status_code, attempt))
                        break
                    assert r.status_code in (503, 504), r.text  # never a 500
                    time.sleep(0.5 * (attempt + 1))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    ray.kill(ray.get_actor(before[0], namespace="serve"), no_restart=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        now = _embedder_replicas()
        status = serve.status().applications["gait"].deployments["Embedder"].status
        if now and now != before and str(status).endswith("HEALTHY"):
            break
        time.sleep(1)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(300)
    assert _embedder_replicas() != before  # a new replica
    assert results and all(code == 200 for code, _ in results), results
    assert max(retries for _, retries in results) <= MAX_RETRIES
