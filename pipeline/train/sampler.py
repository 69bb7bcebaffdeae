"""The field's batch sampler, P people × K sequences, over a stream of clips in bounded memory.

Metric learning needs every batch to hold several sequences of each person in it (positives) and several
people (negatives); a plain shuffle of 40k clips of 74 people rarely puts two of one person's walks together.
OpenGait samples P × K by index from data held in memory; here the clips arrive as a stream (Ray Data reading
the shards, files in a new order every epoch), so the sampler keeps a buffer of at most `buffer` clips, and
whenever it is full draws a batch: P people among those with clips of at least K distinct sequences buffered,
one clip of each of K distinct sequences, people weighted by how much of them is buffered. Memory is the
buffer's, whatever the size of the dataset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

import numpy as np


class PKSampler:
    """Batches of exactly `p` people × `k` sequences (one clip each) from batches of rows streamed in."""

    def __init__(self, p: int, k: int, buffer: int = 4096, seed: int | None = None) -> None:
        if p < 2 or k < 2:
            raise ValueError(f"P × K sampling needs P ≥ 2 people and K ≥ 2 sequences each, got {p} × {k}")
        if buffer < p * k:
            raise ValueError(f"the buffer ({buffer} clips) must hold at least one batch ({p} × {k})")
        self.p, self.k, self.buffer = p, k, buffer
        self.rng = np.random.default_rng(seed)
        # person → sequence → clips waiting (each clip: (array, label))
        self._waiting: dict[int, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
        self._count = 0

    def _eligible(self) -> list[int]:
        return [person for person, seqs in self._waiting.items() if len(seqs) >= self.k]

    def _draw(self) -> tuple[np.ndarray, np.ndarray] | None:
        people = self._eligible()
        if len(people) < self.p:
            return None
        weights = np.array([sum(len(c) for c in self._waiting[q].values()) for q in people], np.float64)
        chosen = self.rng.choice(len(people), self.p, replace=False, p=weights / weights.sum())
        clips, labels = [], []
        for i in chosen:
            person = people[i]
            seqs = self._waiting[person]
            names = list(seqs)
            for j in self.rng.choice(len(names), self.k, replace=False):
                pool = seqs[names[j]]
                clips.append(pool.pop(int(self.rng.integers(len(pool)))))
                labels.append(person)
                if not pool:
                    del seqs[names[j]]
            if not seqs:
                del self._waiting[person]
        self._count -= self.p * self.k
        return np.stack(clips), np.asarray(labels, np.int32)

    def batches(self, rows: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Iterator[tuple[np.ndarray, ...]]:
        """(clips, labels, sequence ids) batches in → (clips [P·K, …], labels [P·K]) out. At the end of the
        stream the buffer is drained while whole batches can still be made; what is left is dropped."""
        for clips, labels, seq_ids in rows:
            for clip, label, seq in zip(clips, labels, seq_ids, strict=True):
                self._waiting[int(label)][str(seq)].append(clip)
                self._count += 1
            while self._count >= self.buffer:
                batch = self._draw()
                if batch is None:  # full but too few people with K sequences: drop the oldest person's clips
                    self._evict()
                    continue
                yield batch
        while (batch := self._draw()) is not None:
            yield batch
        self._waiting.clear()
        self._count = 0

    def _evict(self) -> None:
        person = next(iter(self._waiting))
        self._count -= sum(len(c) for c in self._waiting.pop(person).values())
