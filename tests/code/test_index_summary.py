"""`gait index`'s summary line: its rate is in what was indexed (sequences, or the people of footage)."""

from pipeline.identify.index import IndexSummary


def _summary(**kw) -> IndexSummary:
    base = {"out": "g", "model_version": "v", "discovered": 1, "skipped": 0, "indexed": 1, "failed": 0}
    return IndexSummary(**(base | {"clips": 200, "seconds": 25.0} | kw))


def test_the_rate_of_footage_counts_its_people_not_its_files():
    tracks = {"found": 52, "kept": 46, "short": 5, "low_quality": 1, "not_chosen": 0}
    first, people = _summary(tracks=tracks).lines()[:2]
    assert "200 clip vectors in 25.0 s (1.84 person tracks/s)" in first and "sequences/s" not in first
    assert people.startswith("  person tracks: 52 found = 46 indexed + 5 too short + 1 of low quality")


def test_the_rate_of_a_labelled_dataset_counts_its_sequences():
    (line,) = _summary(discovered=50, indexed=50).lines()
    assert line.startswith("index: 50 sequences discovered = 50 indexed + 0 already indexed + 0 failed")
    assert "(2.00 sequences/s)" in line
    assert "/s)" not in _summary(indexed=0, skipped=1).lines()[0]  # nothing indexed: no rate
