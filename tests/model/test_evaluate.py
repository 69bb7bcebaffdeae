"""`gait evaluate`: the protocol on real shards and a real model, the GEI baseline, the SVM, the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.evaluate.gei import stream_geis
from pipeline.evaluate.run import evaluate
from pipeline.evaluate.summary import summary_lines
from pipeline.identify.index import index_archive
from pipeline.ingest.shards import load_clips
from tests.code.test_evaluate_streaming import in_memory_geis


@pytest.fixture(scope="module")
def report(local_model, tiny_shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "from-shards"
    return out, evaluate(local_model, str(tiny_shards), out=out)


def test_metrics_cover_the_protocol(report):
    out, m = report
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["conditions"] == ["nm", "bg", "cl"] and saved["views"] == [54, 90]
    assert saved["identical_views"] == "excluded" and saved["protocol"] == "synthetic"
    # 2 held-out subjects × 2 views: gallery nm-01; probes nm-02/03, bg-01, cl-01
    assert saved["gallery_sequences"] == 4 and saved["probe_sequences"] == 16
    for method in ("network", "gei"):
        r = saved["methods"][method]
        for cond in ("nm", "bg", "cl"):
            cmc = r["rank"][cond]["cmc"]
            assert len(cmc) == 5 and all(0.0 <= x <= 1.0 for x in cmc) and cmc == sorted(cmc)
            assert cmc[1] == 1.0  # two test subjects: everybody is found by rank 2
            matrix = r["rank"][cond]["rank1_matrix"]
            assert len(matrix) == 2 and all(len(row) == 2 for row in matrix)
            # the papers' table: rank-1 per probe view (the other gallery view), and mAP over the same pairs
            per_view = r["rank"][cond]["rank1_per_probe_view"]
            assert set(per_view) == {"54", "90"}
            assert np.mean(list(per_view.values())) == pytest.approx(r["rank"][cond]["rank1"])
            assert 0.0 < r["rank"][cond]["map"] <= 1.0 and set(r["rank"][cond]["map_per_probe_view"]) == {"54", "90"}
            assert saved["map"][method][cond] == r["rank"][cond]["map"]
        v = r["verification"]
        assert 0.0 <= v["eer"] <= 1.0 and {"tar@far=0.01", "tar@far=0.001"} <= set(v)
        assert saved["rank1"][method]["nm"] == r["rank"]["nm"]["rank1"]
    svm = saved["methods"]["network"]["svm"]
    assert svm["enrolled"] == 2 and 0.0 <= svm["accuracy"] <= 1.0
    assert svm["threshold_from"] == "impostor vectors"  # the validation sequences of training subjects
    assert set(svm["per_condition"]) == {"nm", "bg", "cl"}
    assert saved["methods"]["gei"]["model"]["lda_components"] == 2  # 3 training subjects → C − 1 axes
    endpoint = saved["methods"]["network"]["open_set"]  # the rule `gait serve` answers by, and its threshold
    assert endpoint["target_far"] == 0.01 and -1.0 <= endpoint["threshold"] <= 1.0001
    assert endpoint["threshold_from"].startswith("16 probe sequences of 2 held-out people")
    assert (endpoint["gallery_walks"], endpoint["gallery_people"]) == (4, 2)  # what the threshold holds for
    assert 0.0 <= endpoint["at_old_default"]["strangers_accepted"] <= 1.0
    assert "cross_fitted" not in endpoint  # 2 held-out people: no halves to judge each other
    assert any(line.startswith("  endpoint (nearest enrolled sequence): threshold") for line in summary_lines(saved))
    assert m["report"] == str(out / "report.html") and "precision@k" in saved["map_definition"]


def test_report_is_self_contained_with_its_figures(report):
    out, _ = report
    html = (out / "report.html").read_text()
    per_view = [f"rank1_per_view_{c}.png" for c in ("nm", "bg", "cl")]
    figures = ("cmc.png", "roc.png", "open_set.png", "rank1_views.png", "rank1_views_gei.png", "confusion.png")
    for name in (*figures, *per_view):
        assert (out / "plots" / name).stat().st_size > 1000, name
        assert f'href="plots/{name}"' in html
    assert html.count("data:image/png;base64,") == 9
    assert "The endpoint's open set" in html and "strangers named (%)" in html
    assert "GEI + PCA + LDA" in html and "identical views are left out" in html
    assert "mAP per probe view" in html and "Rank-1 per probe view" in html and "mAP NM" in html


def test_streamed_geis_equal_the_in_memory_geis_on_real_shards(tiny_shards):
    c = load_clips(str(tiny_shards), columns=["sequence_id", "frame_start", "num_frames", "silhouettes"])
    ids, geis = in_memory_geis(c["silhouettes"], c["sequence_id"], c["frame_start"], c["num_frames"])
    streamed_ids, streamed = stream_geis(str(tiny_shards), rows=5)
    assert streamed_ids == ids
    np.testing.assert_array_equal(streamed, geis)


def test_gallery_from_gait_index_gives_the_same_figures(report, local_model, tiny_shards, tmp_path, capsys):
    """The demo's path: vectors from `gait index` over the archive, evaluated through the CLI."""
    _, from_shards = report
    gallery = tmp_path / "gallery"
    index_archive(str(tiny_shards.parent / "synth"), str(local_model), str(gallery))
    out = tmp_path / "from-gallery"
    args = ["evaluate", "--model", str(local_model), "--shards", str(tiny_shards), "--gallery", str(gallery)]
    assert main([*args, "--out", str(out), "--baseline", "none"]) == 0
    printed = capsys.readouterr().out
    assert "network " in printed and "report:" in printed and "NM" in printed
    assert "mAP (%)" in printed and "rank-1 per probe view (%)" in printed
    m = json.loads((out / "metrics.json").read_text())
    assert m["vectors_from"] == f"gallery {gallery}" and "gei" not in m["methods"]
    for cond in ("nm", "bg", "cl"):
        assert m["rank1"]["network"][cond] == pytest.approx(from_shards["rank1"]["network"][cond])
    assert m["methods"]["network"]["verification"]["eer"] == pytest.approx(
        from_shards["methods"]["network"]["verification"]["eer"], abs=1e-6
    )


def test_wrong_inputs_are_clear_errors(local_model, tiny_shards, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a complete model directory"):
        evaluate(tmp_path, str(tiny_shards))
    with pytest.raises(SystemExit, match=r"no vectors for model version|holds no gallery"):
        main(["evaluate", "--model", str(local_model), "--shards", str(tiny_shards), "--gallery", str(tmp_path)])
