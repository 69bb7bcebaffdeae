"""Training curves as a PNG: loss and accuracy per stage, train against validation, and pose PCK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = {
    "pose": [("loss", "val_loss", "heatmap MSE"), ("val_pck", None, "PCK@0.2 (validation)")],
    "gait": [
        ("loss", "val_loss", "cross-entropy"),
        ("accuracy", "val_accuracy", "accuracy"),
        ("val_rank1", None, "rank-1, held-out clips"),
    ],
    "presence": [("loss", "val_loss", "binary cross-entropy"), ("accuracy", "val_accuracy", "accuracy")],
}


def plot_curves(histories: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    stages = [s for s in PANELS if histories.get(s)]
    cols = max(len(PANELS[s]) for s in stages) if stages else 1
    fig, axes = plt.subplots(max(1, len(stages)), cols, figsize=(4.2 * cols, 3.2 * max(1, len(stages))), squeeze=False)
    for r, stage in enumerate(stages):
        rows = histories[stage]
        epochs = [h["epoch"] + 1 for h in rows]
        for c, (train_key, val_key, title) in enumerate(PANELS[stage]):
            ax = axes[r][c]
            if any(train_key in h for h in rows):
                label = "validation" if train_key.startswith("val_") else "train"
                ax.plot(epochs, [h.get(train_key) for h in rows], marker="o", label=label)
            if val_key and any(val_key in h for h in rows):
                ax.plot(epochs, [h.get(val_key) for h in rows], marker="o", label="validation")
            ax.set_title(f"{stage}: {title}", fontsize=10)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        for c in range(len(PANELS[stage]), cols):
            axes[r][c].axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
