"""The report's figures (matplotlib, Agg): CMC, ROC, the endpoint's open set, rank-1 per view pair and per probe
view, the SVM's confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.evaluate.protocol import ConditionResult
from pipeline.evaluate.verification import Verification

STYLE = {"network": "-", "gei": "--"}
LABEL = {"network": "network", "gei": "GEI + PCA + LDA"}  # the network is whichever the model directory holds


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_cmc(curves: dict[str, tuple[dict[str, ConditionResult], Verification]], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = {}
    for method, (ranks, _) in curves.items():
        for cond, res in ranks.items():
            k = np.arange(1, len(res.mean) + 1)
            (line,) = ax.plot(
                k,
                100 * res.mean,
                STYLE.get(method, ":"),
                marker="o",
                color=colors.get(cond),
                label=f"{LABEL.get(method, method)} {cond.upper()}",
            )
            colors[cond] = line.get_color()
    ax.set(xlabel="rank", ylabel="identification rate (%)", title="CMC (cross-view, identical views excluded)")
    ax.set_xticks(k)
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_roc(curves: dict[str, tuple[dict[str, ConditionResult], Verification]], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, (_, ver) in curves.items():
        far = np.maximum(ver.far, 1e-5)
        ax.plot(
            far, 100 * ver.tar, STYLE.get(method, ":"), label=f"{LABEL.get(method, method)} (EER {100 * ver.eer:.1f}%)"
        )
    ax.set(xscale="log", xlabel="false-accept rate", ylabel="true-accept rate (%)", title="Verification ROC")
    ax.set_xlim(1e-4, 1)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_open_set(open_set: dict, path: Path) -> Path:
    """The endpoint's trade-off: probes named right against strangers named, as its threshold moves; the
    chosen threshold and the old fixed one marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    curve = open_set["curve"]
    far = np.maximum(np.asarray(curve["strangers_accepted"]), 1e-3)
    ax.plot(far, 100 * np.asarray(curve["identified"]), "-", color="C0", label="as the threshold moves")
    chosen, old = open_set.get("cross_fitted"), open_set["at_old_default"]
    marks = [(old, "s", "C7", f"threshold {old['threshold']:g}, before it was measured")]
    if chosen is not None:
        label = f"threshold {open_set['threshold']:.3f} for FAR {open_set['target_far']:g} (cross-fitted)"
        marks.insert(0, (chosen, "o", "C3", label))
    for point, marker, color, label in marks:
        ax.plot(max(point["strangers_accepted"], 1e-3), 100 * point["identified"], marker, color=color, label=label)
    ax.set(
        xscale="log",
        xlabel="strangers named (false-accept rate)",
        ylabel="probes named right (%)",
        title="The endpoint's open set",
    )
    ax.set_xlim(1e-3, 1.05)
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_view_matrix(ranks: dict[str, ConditionResult], path: Path, title: str) -> Path:
    """Rank-1 per (probe view, gallery view), one panel per condition; the excluded diagonal is hatched."""
    plt = _plt()
    conds = list(ranks)
    fig, axes = plt.subplots(1, len(conds), figsize=(3.4 * len(conds) + 0.8, 3.4), squeeze=False)
    for ax, cond in zip(axes[0], conds, strict=True):
        res = ranks[cond]
        m = 100 * res.matrix[:, :, 0]
        im = ax.imshow(m, vmin=0, vmax=100, cmap="viridis")
        n = len(res.views)
        for i in range(n):
            for j in range(n):
                if not np.isnan(m[i, j]):
                    ax.text(
                        j,
                        i,
                        f"{m[i, j]:.0f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if m[i, j] < 60 else "black",
                    )
            if n > 1:
                ax.add_patch(plt.Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="red", lw=0))
        labels = [str(v) if v >= 0 else "any" for v in res.views]
        ax.set_xticks(range(n), labels, fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
        ax.set(xlabel="gallery view", ylabel="probe view", title=f"{cond.upper()}: {100 * res.rank1:.1f}%")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="rank-1 (%)")
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_rank1_per_view(
    curves: dict[str, tuple[dict[str, ConditionResult], Verification]], condition: str, path: Path
) -> Path:
    """One condition's rank-1 per probe view (each the mean over the other gallery views), a line per method: the
    figure GaitSet's and GaitBase's papers tabulate, drawn."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    labels: list[str] = []
    for method, (ranks, _) in curves.items():
        res = ranks.get(condition)
        if res is None:
            continue
        x = np.arange(len(res.views))
        labels = [str(v) if v >= 0 else "any" for v in res.views]
        ax.plot(
            x,
            100 * res.per_probe_view[:, 0],
            STYLE.get(method, ":"),
            marker="o",
            label=f"{LABEL.get(method, method)} (mean {100 * res.rank1:.1f}%)",
        )
    ax.set_xticks(range(len(labels)), labels)
    ax.set(
        xlabel="probe view (degrees)",
        ylabel="rank-1 (%)",
        title=f"{condition.upper()}: rank-1 per probe view (identical view excluded)",
    )
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(true: np.ndarray, pred: np.ndarray, classes: list[str], path: Path) -> Path:
    """The SVM's closed-set decisions on the probes, counted per (true subject, predicted subject)."""
    from sklearn.metrics import confusion_matrix

    plt = _plt()
    labels = sorted(set(classes) | set(true))
    cm = confusion_matrix(true, pred, labels=labels)
    size = min(12, 2 + 0.3 * len(labels))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ticks = range(len(labels)) if len(labels) <= 40 else []
    ax.set_xticks(ticks, [labels[i] for i in ticks], rotation=90, fontsize=6)
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=6)
    ax.set(
        xlabel="predicted",
        ylabel="true subject",
        title=f"SVM on probe sequences (accuracy {np.mean(true == pred):.1%})",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
