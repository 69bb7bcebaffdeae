"""The evaluation as a few lines of text: the table `gait evaluate` and the demo print."""

from __future__ import annotations

from typing import Any

from pipeline.evaluate.plots import LABEL


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    conds = metrics["conditions"]
    width = max(len(v) for v in LABEL.values())
    head = f"  {'rank-1 (%)':<{width}}" + "".join(f"{c.upper():>7}" for c in conds) + f"{'EER':>8}"
    lines = [
        f"evaluate: {metrics['probe_sequences']} probe vs {metrics['gallery_sequences']} gallery sequences of "
        f"held-out subjects, protocol {metrics['protocol']}, cross-view (identical views excluded)",
        head,
    ]
    for name, m in metrics["methods"].items():
        if "rank" not in m:
            lines.append(f"  {LABEL.get(name, name):<{width}}  ({m.get('skipped', 'not run')})")
            continue
        cells = "".join(f"{100 * m['rank'][c]['rank1']:>7.1f}" for c in conds)
        lines.append(f"  {LABEL.get(name, name):<{width}}{cells}{100 * m['verification']['eer']:>7.1f}%")
    s = metrics["methods"]["network"]["svm"]
    lines.append(
        f"  linear SVM on the network's vectors: accuracy {100 * s['accuracy']:.1f}% (closed set), "
        f"{100 * s['open_set_identification_rate']:.1f}% open set at FAR {s['target_far']:g}"
    )
    if "report" in metrics:
        lines.append(f"  report: {metrics['report']}")
    return lines
