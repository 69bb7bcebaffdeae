"""The evaluation as a few lines of text: the table `gait evaluate` and the demo print."""

from __future__ import annotations

from typing import Any

from pipeline.evaluate.plots import LABEL


def _pct(x: float | None, width: int) -> str:
    return f"{'–':>{width}}" if x is None else f"{100 * x:>{width}.1f}"


def _view(v: str) -> str:
    return "any" if int(v) < 0 else v


def open_set_lines(s: dict[str, Any] | None) -> list[str]:
    """The endpoint's threshold and what it costs, in two lines (nothing when it was not measured)."""
    if not s or "skipped" in s:
        return []
    old = s["at_old_default"]
    at = (
        f"  endpoint (nearest enrolled sequence): threshold {s['threshold']:.3f} for "
        f"{100 * s['target_far']:g}% of strangers named"
    )
    if "cross_fitted" in s:
        cf = s["cross_fitted"]
        at += (
            f": {100 * cf['identified']:.1f}% of probes named right, "
            f"{100 * cf['strangers_accepted']:.1f}% of strangers named (cross-fitted)"
        )
    return [
        at,
        f"    at the old fixed {old['threshold']:g}: {100 * old['identified']:.1f}% named right, "
        f"{100 * old['strangers_accepted']:.1f}% of strangers named",
    ]


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    conds = metrics["conditions"]
    width = max(len(v) for v in LABEL.values())
    methods = {name: m for name, m in metrics["methods"].items() if "rank" in m}
    block = 7 * len(conds)
    columns = "".join(f"{c.upper():>7}" for c in conds)
    lines = [
        f"evaluate: {metrics['probe_sequences']} probe vs {metrics['gallery_sequences']} gallery sequences of "
        f"held-out subjects, protocol {metrics['protocol']}, cross-view (identical views excluded)",
        f"  {'':<{width}}{'rank-1 (%)':>{block}}  {'mAP (%)':>{block}}",
        f"  {'':<{width}}{columns}  {columns}{'EER':>9}",
    ]
    for name, m in metrics["methods"].items():
        if name not in methods:
            lines.append(f"  {LABEL.get(name, name):<{width}}  ({m.get('skipped', 'not run')})")
            continue
        rank1 = "".join(_pct(m["rank"][c]["rank1"], 7) for c in conds)
        maps = "".join(_pct(m["rank"][c].get("map"), 7) for c in conds)
        lines.append(f"  {LABEL.get(name, name):<{width}}{rank1}  {maps}{100 * m['verification']['eer']:>8.1f}%")
    views = list(next(iter(methods.values()))["rank"][conds[0]]["rank1_per_probe_view"]) if methods else []
    if len(views) > 1:  # the papers' table: each probe view against the other gallery views
        lines.append("  rank-1 per probe view (%), each the mean over the other gallery views")
        lines.append(f"  {'':<{width + 4}}" + "".join(f"{_view(v):>6}" for v in views) + f"{'mean':>6}")
        for name, m in methods.items():
            for c in conds:
                per = m["rank"][c]["rank1_per_probe_view"]
                row = "".join(_pct(per.get(v), 6) for v in views)
                mean = _pct(m["rank"][c]["rank1"], 6)
                lines.append(f"  {LABEL.get(name, name):<{width}} {c.upper():<3}{row}{mean}")
    s = metrics["methods"]["network"]["svm"]
    lines.append(
        f"  linear SVM on the network's vectors: accuracy {100 * s['accuracy']:.1f}% (closed set), "
        f"{100 * s['open_set_identification_rate']:.1f}% open set at FAR {s['target_far']:g}"
    )
    lines += open_set_lines(metrics["methods"]["network"].get("open_set"))
    if "report" in metrics:
        lines.append(f"  report: {metrics['report']}")
    return lines
