"""The evaluation report: one self-contained HTML file (figures inlined as PNG data URIs, also kept in plots/)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.common.atomic import atomic_write_bytes
from pipeline.evaluate.plots import (
    LABEL,
    plot_cmc,
    plot_confusion,
    plot_open_set,
    plot_rank1_per_view,
    plot_roc,
    plot_view_matrix,
)
from pipeline.evaluate.protocol import Sequences

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f3f3; }
img { max-width: 100%; border: 1px solid #eee; margin: .3em 0; }
.note { color: #555; font-size: 13px; }
code { background: #f5f5f5; padding: 0 .2em; }
"""


def _pct(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption class="note">'
        f'{html.escape(alt)} (<a href="plots/{path.name}">{path.name}</a>)</figcaption></figure>'
    )


def _open_set_section(s: dict[str, Any]) -> str:
    """The serving endpoint's rule, its measured threshold and what it costs (pipeline.evaluate.open_set)."""
    if not s:
        return ""
    head = "<h2>The endpoint's open set (what <code>gait serve</code> answers)</h2>"
    if "skipped" in s:
        return f"{head}<p class='note'>{html.escape(s['skipped'])}</p>"
    rows = []
    if "cross_fitted" in s:
        cf = s["cross_fitted"]
        rows.append(
            [
                f"{s['threshold']:.3f}, chosen for FAR {s['target_far']:g} (cross-fitted: each half of the people "
                "judged with the other half's threshold)",
                _pct(cf["strangers_accepted"]),
                _pct(cf["identified"]),
            ]
        )
    old = s["at_old_default"]
    old_label = f"{old['threshold']:g}, the fixed threshold before it was measured"
    rows.append([old_label, _pct(old["strangers_accepted"]), _pct(old["identified"])])
    rows.append(["none (closed set: everyone is named)", "100.0", _pct(s["identified_closed_set"])])
    return f"""{head}
<p class="note">Rule: {html.escape(s["rule"])}. A stranger is each probe against the gallery without its own person
({html.escape(s["threshold_from"])}). <code>gait serve</code> uses the threshold chosen here unless told another
(<code>--threshold</code>).</p>
{_table(["threshold", "strangers named (%)", "probes named right (%)"], rows)}"""


def write_report(
    out: Path, metrics: dict[str, Any], curves: dict[str, Any], probes: Sequences, closed: np.ndarray, svm: Any
) -> Path:
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    figs = [
        (plot_cmc(curves, plots / "cmc.png"), "Cumulative match curves"),
        (plot_roc(curves, plots / "roc.png"), "Verification ROC"),
        (
            plot_view_matrix(curves["network"][0], plots / "rank1_views.png", "network: rank-1 per view pair"),
            "Network: rank-1 per (probe view, gallery view)",
        ),
    ]
    if "gei" in curves:
        figs.append(
            (
                plot_view_matrix(curves["gei"][0], plots / "rank1_views_gei.png", "GEI baseline: rank-1 per view pair"),
                "GEI baseline: rank-1 per (probe view, gallery view)",
            )
        )
    for cond in metrics["conditions"]:
        figs.append(
            (
                plot_rank1_per_view(curves, cond, plots / f"rank1_per_view_{cond}.png"),
                f"{cond.upper()}: rank-1 per probe view, each the mean over the other gallery views",
            )
        )
    figs.append(
        (
            plot_confusion(probes.subjects, closed, list(svm.classes), plots / "confusion.png"),
            "SVM confusion matrix on the probe sequences",
        )
    )
    endpoint = metrics["methods"]["network"].get("open_set", {})
    if "curve" in endpoint:
        figs.insert(2, (plot_open_set(endpoint, plots / "open_set.png"), "The endpoint's open set"))

    conds = metrics["conditions"]
    methods = {k: v for k, v in metrics["methods"].items() if "rank" in v}
    rank_rows = [
        [
            LABEL.get(m, m),
            *[_pct(v["rank"][c]["rank1"]) for c in conds],
            _pct(np.mean([v["rank"][c]["rank1"] for c in conds])),
            *[_pct(v["rank"][c].get("map")) for c in conds],
            _pct(v["verification"]["eer"]),
            _pct(v["verification"]["tar@far=0.01"]),
            _pct(v["verification"]["tar@far=0.001"]),
        ]
        for m, v in methods.items()
    ]
    rank_head = [
        "method",
        *[f"rank-1 {c.upper()}" for c in conds],
        "rank-1 mean",
        *[f"mAP {c.upper()}" for c in conds],
        "EER",
        "TAR@FAR=1e-2",
        "TAR@FAR=1e-3",
    ]
    cmc_rows = [
        [f"{LABEL.get(m, m)} {c.upper()}", *[_pct(x) for x in v["rank"][c]["cmc"]]]
        for m, v in methods.items()
        for c in conds
    ]
    views = methods["network"]["rank"][conds[0]]["views"]
    view_rows, map_view_rows = [], []
    for m, v in methods.items():
        for c in conds:
            r = v["rank"][c]
            label = f"{LABEL.get(m, m)} {c.upper()}"
            per, per_map = r["rank1_per_probe_view"], r.get("map_per_probe_view", {})
            view_rows.append([label, *[_pct(per.get(str(w))) for w in views], _pct(r["rank1"])])
            map_view_rows.append([label, *[_pct(per_map.get(str(w))) for w in views], _pct(r.get("map"))])
    view_head = ["method / condition", *[str(w) if w >= 0 else "any" for w in views], "mean"]
    s = metrics["methods"]["network"]["svm"]
    svm_rows = [
        [c.upper(), _pct(d["accuracy"]), _pct(d["open_set_identification_rate"])] for c, d in s["per_condition"].items()
    ]
    svm_rows.append(["all", _pct(s["accuracy"]), _pct(s["open_set_identification_rate"])])
    open_set_section = _open_set_section(endpoint)
    skipped = "".join(
        f"<p class='note'>{html.escape(k)}: {html.escape(v['skipped'])}</p>"
        for k, v in metrics["methods"].items()
        if "skipped" in v
    )

    doc = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Gait evaluation: {html.escape(metrics["model_version"])}</title><style>{CSS}</style></head><body>
<h1>Gait recognition: evaluation</h1>
<p>Model <code>{html.escape(metrics["model"])}</code> (version <code>{html.escape(metrics["model_version"])}</code>),
shards <code>{html.escape(metrics["shards"])}</code>, protocol <b>{html.escape(str(metrics["protocol"]))}</b>,
vectors from {html.escape(metrics["vectors_from"])}.
{metrics["gallery_sequences"]} gallery and {metrics["probe_sequences"]} probe sequences of held-out subjects
(never seen in training); views {", ".join(map(str, metrics["views"]))}.</p>
<h2>Rank-1 and mAP per condition (%)</h2>
<p class="note">For every probe view and every other gallery view, the share of probes whose nearest gallery
sequence (Euclidean) is the same person; identical views are left out, then averaged over views (the CASIA-B
protocol).</p>
<p class="note">mAP: for the same (probe view, gallery view) pairs, each probe's average precision over the gallery
sequences of that view ranked by distance (every sequence of the probe's subject counts as a hit: AP =
(1/R) Σ<sub>k</sub> precision@k · hit<sub>k</sub>, R the subject's sequences in that view), averaged over the
probes of the pair, then over views exactly as rank-1.</p>
{_table(rank_head, rank_rows)}
{skipped}
<h2>Cumulative match (%)</h2>
{_table(["method / condition", *[f"rank-{k}" for k in range(1, 6)]], cmc_rows)}
<h2>Rank-1 per probe view (%)</h2>
<p class="note">Each cell: the probes of that view against every other gallery view, averaged (as GaitSet's and
GaitBase's papers tabulate CASIA-B); the last column is the condition's figure above.</p>
{_table(view_head, view_rows)}
<h2>mAP per probe view (%)</h2>
{_table(view_head, map_view_rows)}
<h2>Linear SVM</h2>
<p class="note">Enrolled on the gallery's clip vectors ({s["enrolled"]} people, {s["enrolment_vectors"]} vectors);
open-set threshold {s["threshold"]:.3f} for a false-accept rate of {s["target_far"]:g}, chosen on
{html.escape(s["threshold_from"])} (validation sequences of training subjects, who are not enrolled). Open-set
identification counts a probe as right only when it is accepted and named correctly.</p>
{_table(["condition", "closed-set accuracy", "open-set identification"], svm_rows)}
{open_set_section}
<h2>Figures</h2>
{"".join(_img(p, alt) for p, alt in figs)}
<p class="note">All figures: <code>metrics.json</code> beside this file. Evaluation took {metrics["seconds"]:.1f} s.</p>
</body></html>
"""
    path = out / "report.html"
    atomic_write_bytes(path, doc.encode())
    return path
