"""Peak resident memory of this process and everything it started (Ray's raylet, workers, object store)."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def tree_rss(root: int) -> int:
    """Summed RSS in bytes of `root` and its descendants (shared pages counted per process: an upper bound)."""
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
        stack += _children(pid)
    return total


class PeakMemory:
    """Samples the process tree's RSS in a thread while the `with` block runs."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval, self.peak, self.baseline = interval, 0, 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        self.baseline = tree_rss(os.getpid())
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(os.getpid()))
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(os.getpid()))
