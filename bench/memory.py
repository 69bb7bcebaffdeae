"""Peak resident memory of this process and everything it started (Ray's raylet, workers, object store)."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def tree_pids(root: int) -> list[int]:
    """`root` and its descendants that are alive now."""
    out, stack, seen = [], [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen or not Path(f"/proc/{pid}").exists():
            continue
        seen.add(pid)
        out.append(pid)
        stack += _children(pid)
    return out


def _field(path: str, name: str) -> int:
    """A `Name:  N kB` line of a /proc file, in bytes (0 when the process is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1]) * 1024
    return 0


def tree_rss(root: int) -> int:
    """Summed RSS in bytes of `root` and its descendants (shared pages counted per process: an upper bound)."""
    return sum(_field(f"/proc/{pid}/status", "VmRSS:") for pid in tree_pids(root))


def process_name(pid: int) -> str:
    """What the process runs: Ray's process titles (`ray::ClipEmbedder`, `raylet`, …) or the command line."""
    with contextlib.suppress(OSError):
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        name = " ".join(a.decode(errors="replace") for a in args[:2] if a)
        return name[:60] or Path(f"/proc/{pid}/comm").read_text().strip()
    return "?"


def tree_detail(root: int) -> dict[str, dict[str, int]]:
    """Per process of the tree, in bytes: RSS; PSS (each shared page divided among the processes that map it, so
    PSS sums to the tree's real footprint, object-store pages once); RSS split into private heap (`anon`) and
    shared memory (`shmem`: Ray's object store, a tmpfs whose pages stay allocated once touched)."""
    out = {}
    for pid in tree_pids(root):
        status = f"/proc/{pid}/status"
        out[f"{pid} {process_name(pid)}"] = {
            "rss": _field(status, "VmRSS:"),
            "pss": _field(f"/proc/{pid}/smaps_rollup", "Pss:"),
            "anon": _field(status, "RssAnon:"),
            "shmem": _field(status, "RssShmem:"),
        }
    return out


class PeakMemory:
    """Samples the process tree's RSS in a thread while the `with` block runs: this process's tree, or that of
    `root` (a child started in the block, e.g. a command run with subprocess). With `detail`, also the tree's
    PSS (`peak_pss`) and private heap (`peak_anon`), the root process's own RSS (`peak_root`), the per-process
    figures at the RSS peak and each process's own peak."""

    def __init__(self, interval: float = 0.1, root: int | None = None, detail: bool = False) -> None:
        self.interval, self.peak, self.baseline = interval, 0, 0
        self.root = root or os.getpid()
        self.detail = detail
        self.peak_pss, self.peak_anon, self.peak_root = 0, 0, 0
        self.at_peak: dict[str, dict[str, int]] = {}
        self.process_peaks: dict[str, dict[str, Any]] = {}  # pid → name, RSS (anon, shmem) at its peak, peak PSS
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        self.baseline = tree_rss(self.root)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        if not self.detail:
            self.peak = max(self.peak, tree_rss(self.root))
            return
        procs = tree_detail(self.root)
        for name, m in procs.items():  # keyed by pid (Ray workers change their titles as they run)
            pid = name.split(" ", 1)[0]
            best = self.process_peaks.setdefault(pid, {"name": name, "rss": 0, "pss": 0, "anon": 0, "shmem": 0})
            if m["rss"] > best["rss"]:
                best.update(name=name, rss=m["rss"], anon=m["anon"], shmem=m["shmem"])
            best["pss"] = max(best["pss"], m["pss"])
        rss = sum(p["rss"] for p in procs.values())
        self.peak_pss = max(self.peak_pss, sum(p["pss"] for p in procs.values()))
        self.peak_anon = max(self.peak_anon, sum(p["anon"] for p in procs.values()))
        self.peak_root = max(self.peak_root, next((p["rss"] for p in procs.values()), 0))
        if rss > self.peak:
            self.peak, self.at_peak = rss, procs

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
