"""Pictures a person would rather look at: confusion matrix and per-class metrics."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: training runs on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def confusion_matrix_figure(y_true, y_pred, classes: list[str]) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 6))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=classes, ax=ax, cmap="Blues", colorbar=False, xticks_rotation=30
    )
    ax.set_title("Confusion matrix (test split)")
    fig.tight_layout()
    return fig


def class_metrics_figure(per_class: dict[str, dict]) -> Figure:
    classes = list(per_class)
    metrics = ("precision", "recall", "f1")
    x = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, metric in enumerate(metrics):
        ax.bar(x + (i - 1) * 0.27, [per_class[c][metric] for c in classes], width=0.27, label=metric)
    ax.set_xticks(x, [f"{c}\n(n={per_class[c]['num_samples']})" for c in classes], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title("Per-class metrics (test split)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
