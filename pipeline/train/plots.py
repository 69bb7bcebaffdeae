"""Training curves as a PNG: loss and accuracy per stage, train against validation, pose PCK, and the set
stage's rank-1 of the validation people per condition."""

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
    "set": [
        ("loss", None, "triplet + cross-entropy"),
        ("logits_part_accuracy", None, "accuracy (training people)"),
        (("val_rank1_nm", "val_rank1_bg", "val_rank1_cl"), None, "rank-1, validation people"),
    ],
}
LABELS = {"val_rank1_nm": "NM", "val_rank1_bg": "BG", "val_rank1_cl": "CL"}


def plot_curves(histories: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    stages = [s for s in PANELS if histories.get(s)]
    cols = max(len(PANELS[s]) for s in stages) if stages else 1
    fig, axes = plt.subplots(max(1, len(stages)), cols, figsize=(4.2 * cols, 3.2 * max(1, len(stages))), squeeze=False)
    for r, stage in enumerate(stages):
        rows = histories[stage]
        epochs = [h["epoch"] + 1 for h in rows]
        for c, (train_key, val_key, title) in enumerate(PANELS[stage]):
            ax = axes[r][c]
            for key in (train_key,) if isinstance(train_key, str) else train_key:
                if any(key in h for h in rows):
                    label = LABELS.get(key, "validation" if key.startswith("val_") else "train")
                    ax.plot(epochs, [h.get(key) for h in rows], marker="o", label=label)
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
