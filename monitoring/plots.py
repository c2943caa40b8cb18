"""The report's pictures: the window against the reference (tag shares, confidence, OOV share). matplotlib's
object API, no pyplot, like tagifai/plots.py: headless, nothing kept open between plots."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from tagifai.plots import new_figure

BINS = 20


def tag_shares_figure(window: Mapping[str, float], reference: Mapping[str, float]) -> Figure:
    classes = list(reference) + sorted(set(window) - set(reference))
    x = np.arange(len(classes))
    fig, ax = new_figure((8, 4.5))
    ax.bar(x - 0.2, [reference.get(c, 0.0) for c in classes], width=0.4, label="reference")
    ax.bar(x + 0.2, [window.get(c, 0.0) for c in classes], width=0.4, label="window")
    ax.set_xticks(x, classes, fontsize=8)
    ax.set_ylabel("share of predictions")
    ax.set_title("Predicted-tag shares: window vs reference")
    ax.legend()
    fig.tight_layout()
    return fig


def distribution_figure(window: np.ndarray, reference: np.ndarray, title: str, xlabel: str,
                        value_range: tuple[float, float] = (0.0, 1.0)) -> Figure:
    """Both distributions as densities over the same bins, so windows of any size compare with the reference."""
    fig, ax = new_figure((8, 4.5))
    edges = np.linspace(*value_range, BINS + 1)
    ax.hist(reference, bins=edges, density=True, alpha=0.5, label=f"reference (n={len(reference)})")
    ax.hist(window, bins=edges, density=True, alpha=0.5, label=f"window (n={len(window)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
