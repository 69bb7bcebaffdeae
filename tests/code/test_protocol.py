"""The evaluation protocol's arithmetic, against small cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from pipeline.evaluate.protocol import Sequences, average_precision, cmc, cross_view_rank, distances
from pipeline.evaluate.verification import Verification, pair_blocks, verification


def seqs(rows: list[tuple[float, str, str, int]]) -> Sequences:
    return Sequences(
        np.array([[r[0]] for r in rows], float),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows], dtype=object),
    )


# 1-D vectors. Gallery: A at 0 (view 0) and 20 (view 90); B at 5 (view 0) and 30 (view 90).
GALLERY = seqs([(0, "A", "nm", 0), (5, "B", "nm", 0), (20, "A", "nm", 90), (30, "B", "nm", 90)])
PROBES = seqs(
    [
        (1, "A", "nm", 0),  # view 0: vs view-0 gallery A 1, B 4 → A ✓;   vs view-90 gallery A 19, B 29 → A ✓
        (4, "A", "nm", 0),  # view 0: vs view-0 gallery A 4, B 1 → B ✗;   vs view-90 gallery A 16, B 26 → A ✓
        (24, "B", "nm", 90),  # view 90: vs view-0 gallery A 24, B 19 → B ✓; vs view-90 gallery A 4, B 6 → A ✗
        (35, "A", "bg", 90),  # view 90: vs view-0 A 35, B 30 → B ✗;        vs view-90 A 15, B 5 → B ✗
    ]
)


def test_rank1_per_view_pair_and_identical_views_left_out():
    res = cross_view_rank(GALLERY, PROBES, max_rank=2)
    nm, bg = res["nm"], res["bg"]
    assert nm.views == [0, 90]
    # rows: probe view, columns: gallery view (worked out in the comments above)
    np.testing.assert_allclose(nm.matrix[:, :, 0], [[0.5, 1.0], [1.0, 0.0]])
    # identical views left out: view 0 → only gallery view 90 (1.0), view 90 → only gallery view 0 (1.0)
    np.testing.assert_allclose(nm.per_probe_view[:, 0], [1.0, 1.0])
    assert nm.rank1 == 1.0  # with the diagonal kept it would be (0.75 + 0.5) / 2 = 0.625
    assert nm.probes == 3
    # two subjects: everybody is found by rank 2
    np.testing.assert_allclose(nm.mean, [1.0, 1.0])
    # BG has probes at view 90 only; the view-0 row is empty, not zero
    assert np.isnan(bg.matrix[0]).all()
    np.testing.assert_allclose(bg.matrix[1, :, 0], [0.0, 0.0])
    assert bg.rank1 == 0.0 and bg.mean[1] == 1.0
    d = nm.to_dict()
    assert d["rank1_per_probe_view"] == {"0": 1.0, "90": 1.0} and d["cmc"] == [1.0, 1.0]


def test_single_unknown_view_keeps_its_only_pair():
    g = seqs([(0, "A", "nm", None), (10, "B", "nm", None)])
    p = seqs([(1, "A", "nm", None), (6, "A", "nm", None)])
    res = cross_view_rank(g, p)["nm"]
    assert res.views == [-1]
    assert res.rank1 == 0.5  # 1 → A ✓, 6 → B ✗


def test_cmc_ranks_subjects_not_sequences():
    # B's probe is nearer to both of A's sequences than to B's: B is the 2nd subject, not the 3rd sequence.
    d = np.array([[1.0, 2.0, 3.0, 9.0]])  # gallery: A, A, B, C
    curve = cmc(d, np.array(["B"]), np.array(["A", "A", "B", "C"]), 3)
    np.testing.assert_allclose(curve, [0.0, 1.0, 1.0])
    # a probe whose subject is not in the gallery never matches
    assert cmc(d, np.array(["Z"]), np.array(["A", "A", "B", "C"]), 3).tolist() == [0.0, 0.0, 0.0]


def test_distances_are_euclidean():
    a, b = np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0], [6.0, 8.0]])
    np.testing.assert_allclose(distances(a, b), [[0.0, 10.0], [5.0, 5.0]])


def all_pairs(gallery, probes):
    blocks = list(pair_blocks(gallery, probes))
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


def test_verification_pairs_leave_out_identical_views():
    dist, same = all_pairs(GALLERY, PROBES)
    # each probe is paired with the 2 gallery sequences of the other view: 4 probes × 2
    assert len(dist) == 8 and same.sum() == 4
    # probe 1 (A, view 0) vs A at view 90: distance 19
    assert 19.0 in dist[same].tolist()


def test_streamed_verification_equals_the_exact_roc_of_every_pair():
    """Histogrammed a block at a time, the ROC is sklearn's over every pair at once, at every threshold."""
    rng = np.random.default_rng(0)
    n, views = 300, [0, 90, 180]
    subjects = rng.integers(0, 20, 2 * n).astype(str)
    centres = rng.normal(size=(20, 8))
    vecs = centres[subjects.astype(int)] + rng.normal(scale=1.5, size=(2 * n, 8))
    make = lambda s: Sequences(vecs[s], subjects[s], np.array(["nm"] * n), np.array(views * (n // 3)))  # noqa: E731
    gallery, probes = make(slice(0, n)), make(slice(n, 2 * n))
    dist, same = all_pairs(gallery, probes)
    assert len(dist) == n * n * 2 // 3  # identical views left out
    far, tar, _ = roc_curve(same, -dist, drop_intermediate=False)
    exact = Verification(far, tar, _, int(same.sum()), int((~same).sum()))
    v = verification(gallery, probes)
    assert (v.genuine, v.impostor) == (exact.genuine, exact.impostor)
    assert len(v.far) <= 2**16 + 1 and np.all(np.diff(v.far) >= 0) and np.all(np.diff(v.tar) >= 0)
    assert v.eer == pytest.approx(exact.eer, abs=1e-3)
    for f in (1e-3, 1e-2, 0.1):
        assert v.tar_at(f) == pytest.approx(exact.tar_at(f), abs=2e-3)
    # every point of the streamed curve lies on the exact one: same FAR → same TAR
    np.testing.assert_allclose(np.interp(v.far[1:], exact.far, exact.tar), v.tar[1:], atol=2e-3)


def test_eer_and_tar_at_far_by_hand():
    genuine, impostor = [0.9, 0.6, 0.4], [0.5, 0.3, 0.1]
    labels = np.array([1, 1, 1, 0, 0, 0])
    far, tar, thr = roc_curve(labels, np.array(genuine + impostor), drop_intermediate=False)
    v = Verification(far, tar, thr, 3, 3)
    # threshold 0.5 accepts 0.9, 0.6 and the impostor 0.5: FAR 1/3 = FRR 1/3
    assert v.eer == pytest.approx(1 / 3)
    assert v.tar_at(0.0) == pytest.approx(2 / 3)  # at threshold 0.6, no impostor accepted
    assert v.tar_at(0.3) == pytest.approx(2 / 3)
    assert v.tar_at(0.34) == pytest.approx(1.0)  # threshold 0.4 accepts every genuine pair and one impostor
    perfect = roc_curve([1, 1, 0, 0], [3.0, 2.0, 1.0, 0.0], drop_intermediate=False)
    assert Verification(*perfect, 2, 2).eer == 0.0


# mAP and the per-probe-view table, by hand. 1-D vectors; gallery view 0: A at 0 and 2, B at 5; view 90: B at 10,
# A at 20, B at 30.
MAP_GALLERY = seqs(
    [
        (0, "A", "nm", 0),
        (2, "A", "nm", 0),
        (5, "B", "nm", 0),
        (10, "B", "nm", 90),
        (20, "A", "nm", 90),
        (30, "B", "nm", 90),
    ]
)
MAP_PROBES = seqs(
    [
        (9, "A", "nm", 0),  # vs view 90: B 1, A 11, B 21 → A 2nd: rank-1 ✗, AP = 1/2
        #                     (vs view 0, left out: B 4, A 7, A 9 → hits at 2, 3: AP = (1/2 + 2/3) / 2)
        (4, "B", "nm", 90),  # vs view 0: B 1, A 2, A 4 → B 1st: rank-1 ✓, AP = 1
        #                     (vs view 90, left out: B 6, A 16, B 26 → hits at 1, 3: AP = (1 + 2/3) / 2)
        (1.5, "A", "nm", 90),  # vs view 0: A 0.5, A 1.5, B 3.5 → hits at 1, 2: rank-1 ✓, AP = 1
        #                       (vs view 90, left out: B 8.5, A 18.5, B 28.5 → hit at 2: AP = 1/2)
        (3, "C", "bg", 0),  # nobody in the gallery: a rank-1 miss, no AP
    ]
)


def test_average_precision_by_hand():
    d = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    gallery = np.array(["B", "A", "B", "A"])
    # probe 1 (A): hits at ranks 2 and 4 → (1/2 + 2/4) / 2; probe 2 (A): ranks 1 and 3 → (1 + 2/3) / 2
    ap = average_precision(d, np.array(["A", "A"]), gallery)
    np.testing.assert_allclose(ap, [0.5, (1 + 2 / 3) / 2])
    assert np.isnan(average_precision(d[:1], np.array(["Z"]), gallery)[0])  # nothing to retrieve: undefined


def test_map_and_rank1_per_probe_view_leave_out_identical_views():
    res = cross_view_rank(MAP_GALLERY, MAP_PROBES, max_rank=2)
    nm = res["nm"]
    np.testing.assert_allclose(nm.ap_matrix, [[(1 / 2 + 2 / 3) / 2, 0.5], [1.0, ((1 + 2 / 3) / 2 + 0.5) / 2]])
    np.testing.assert_allclose(nm.map_per_probe_view, [0.5, 1.0])  # view 0: only its view-90 pair; view 90: (1+1)/2
    assert nm.map == pytest.approx(0.75)  # with the diagonal kept: (0.5417 + 0.8333) / 2 = 0.6875
    np.testing.assert_allclose(nm.per_probe_view[:, 0], [0.0, 1.0])
    assert nm.rank1 == 0.5
    d = nm.to_dict()
    assert d["rank1_per_probe_view"] == {"0": 0.0, "90": 1.0}
    assert d["map_per_probe_view"] == {"0": 0.5, "90": 1.0} and d["map"] == pytest.approx(0.75)
    assert d["map_matrix"][0][1] == 0.5
    # BG: a probe whose subject is in no gallery: rank-1 counts it as a miss, mAP has nothing to average
    bg = res["bg"].to_dict()
    assert bg["rank1"] == 0.0 and bg["map"] is None and bg["map_per_probe_view"] == {"0": None, "90": None}
