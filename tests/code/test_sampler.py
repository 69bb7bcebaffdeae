"""The P × K sampler over a stream: every batch is P people × K distinct sequences, memory is the buffer's."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.train.sampler import PKSampler
from pipeline.train.streaming import random_subsets


def _stream(people: int, seqs: int, clips_per_seq: int, batch: int, seed: int = 0):
    """Rows grouped by person, as shards hold them (each file a few people), in batches of `batch` rows."""
    rows = [(p, s, c) for p in range(people) for s in range(seqs) for c in range(clips_per_seq)]
    for i in range(0, len(rows), batch):
        part = rows[i : i + batch]
        clips = np.array(part, np.int64)  # a clip records its origin: person, sequence, clip
        yield clips, np.array([p for p, _, _ in part]), np.array([f"{p}-{s}" for p, s, _ in part])


def test_every_batch_holds_p_people_times_k_distinct_sequences():
    sampler = PKSampler(p=4, k=3, buffer=120, seed=1)
    batches = list(sampler.batches(_stream(people=20, seqs=6, clips_per_seq=3, batch=32)))
    assert len(batches) >= 15
    seen = set()
    for clips, labels in batches:
        assert clips.shape == (12, 3) and labels.shape == (12,)
        people, counts = np.unique(labels, return_counts=True)
        assert len(people) == 4 and (counts == 3).all()
        for person in people:
            origins = {(int(a), int(b)) for a, b, _ in clips[labels == person]}
            assert len(origins) == 3  # K distinct sequences, not one sequence's clips
        seen.update(map(tuple, clips.tolist()))
    assert len(seen) == 12 * len(batches)  # no clip is drawn twice in a pass


def test_the_buffer_bounds_what_is_held():
    sampler = PKSampler(p=2, k=2, buffer=16, seed=0)
    peak = 0
    for _ in sampler.batches(_stream(people=30, seqs=4, clips_per_seq=2, batch=8)):
        peak = max(peak, sampler._count)
    assert peak <= 16 + 8  # the buffer plus one incoming batch of rows


def test_a_stream_that_cannot_make_a_batch_makes_none():
    sampler = PKSampler(p=3, k=2, buffer=6, seed=0)
    assert list(sampler.batches(_stream(people=2, seqs=4, clips_per_seq=1, batch=4))) == []
    with pytest.raises(ValueError):
        PKSampler(p=4, k=4, buffer=8)


def test_random_subsets_are_each_clips_own_frames():
    clips = np.arange(2 * 10).reshape(2, 10)[..., None, None]  # frame values say which clip they came from
    out = random_subsets(clips, 4, np.random.default_rng(0))
    assert out.shape == (2, 4, 1, 1)
    assert set(out[0].ravel()) <= set(range(10)) and set(out[1].ravel()) <= set(range(10, 20))
    assert len(set(out[0].ravel())) == 4  # without repeats when the clip is long enough
