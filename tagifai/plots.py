"""Pictures a person would rather look at: confusion matrix, per-class metrics, the search's history, the
reference profile, a reliability diagram.

Figures are built with matplotlib's object API (`Figure`, no pyplot): no global backend to choose, nothing
kept open between plots, and it works headless on servers and in CI.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay

from tagifai.calibration import Reliability


def new_figure(figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """A standalone figure with one Axes (saved with savefig or mlflow.log_figure; garbage-collected after)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def confusion_matrix_figure(y_true, y_pred, classes: list[str]) -> Figure:
    fig, ax = new_figure((7, 6))
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
    fig, ax = new_figure((8, 4.5))
    for i, metric in enumerate(metrics):
        ax.bar(x + (i - 1) * 0.27, [per_class[c][metric] for c in classes], width=0.27, label=metric)
    ax.set_xticks(x, [f"{c}\n(n={per_class[c]['num_samples']})" for c in classes], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title("Per-class metrics (test split)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def optimization_history_figure(study, best_trial: int | None = None) -> Figure:
    """Each completed trial's CV mean (± std), pruned trials at their last running mean, and the best so far."""
    fig, ax = new_figure((8, 4.5))
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    pruned = [t for t in study.trials if t.state.name == "PRUNED" and t.intermediate_values]
    if complete:
        x = [t.number for t in complete]
        y = [t.value for t in complete]
        err = [t.user_attrs.get("cv_f1_std", 0.0) for t in complete]
        ax.errorbar(x, y, yerr=err, fmt="o", color="tab:blue", ecolor="lightsteelblue", capsize=2,
                    label="trial: CV mean ± std")
        infeasible = [t for t in complete if t.user_attrs.get("behaviour_failures", 0) > 0]
        if infeasible:
            ax.scatter([t.number for t in infeasible], [t.value for t in infeasible], marker="x", color="tab:red",
                       zorder=3, label="fails behavioural tests")
        order = sorted(complete, key=lambda t: t.number)
        ax.step([t.number for t in order], np.maximum.accumulate([t.value for t in order]), where="post",
                color="tab:orange", label="best so far")
    if pruned:
        ax.scatter([t.number for t in pruned], [list(t.intermediate_values.values())[-1] for t in pruned],
                   marker=".", color="grey", label="pruned (running mean)")
    shown = [t.value for t in complete] + [list(t.intermediate_values.values())[-1] for t in pruned]
    if shown:
        # Keep the interesting band readable: a few hopeless trials (F1 0.1) would squash it.
        low = max(0.0, float(np.quantile(shown, 0.05)) - 0.03)
        ax.set_ylim(low, min(1.0, max(shown) + 0.02))
        hidden = sum(v < low for v in shown)
        if hidden:
            ax.text(0.01, 0.01, f"{hidden} trial(s) below {low:.2f} not shown", transform=ax.transAxes, fontsize=8)
    if best_trial is not None:
        chosen = next((t for t in complete if t.number == best_trial), None)
        if chosen is not None:
            ax.scatter([chosen.number], [chosen.value], s=160, facecolors="none", edgecolors="green", linewidths=2,
                       zorder=4, label=f"chosen: trial {chosen.number}")
    ax.set_xlabel("trial")
    ax.set_ylabel("weighted F1 (repeated stratified CV)")
    ax.set_title("Optimisation history")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def param_importances_figure(importances: dict[str, float]) -> Figure:
    fig, ax = new_figure((7, 0.4 * max(len(importances), 3) + 1.2))
    if importances:
        names = list(importances)[::-1]
        ax.barh(names, [importances[n] for n in names], color="tab:blue")
        ax.set_xlabel("importance (Optuna PED-ANOVA, normalised to sum 1)")
    else:
        ax.text(0.5, 0.5, "not enough completed trials", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title("Hyperparameter importances (completed trials)")
    fig.tight_layout()
    return fig


def reference_profile_figure(profile: dict) -> Figure:
    """The reference profile (tagifai.profile) at a glance: predicted-tag shares, confidence, text length and
    out-of-vocabulary share of the held-out predictions it was built from."""
    fig = Figure(figsize=(10, 7))
    (tags, conf), (length, oov) = fig.subplots(2, 2)
    shares = profile["tag_shares"]
    tags.barh(list(shares)[::-1], list(shares.values())[::-1], color="tab:blue")
    tags.set_xlabel("share of predictions")
    tags.set_title("Predicted tags")
    _histogram(conf, profile["confidence"], np.linspace(0, 1, 21), "confidence of the predicted tag", "Confidence")
    words = profile["text_words"]
    _histogram(length, words, min(30, max(len(set(words)), 1)), "words in the text", "Text length")
    if profile["oov_share"] is None:
        oov.text(0.5, 0.5, "no word vocabulary\n(char n-grams only)", ha="center", va="center")
        oov.set_axis_off()
    else:
        _histogram(oov, profile["oov_share"], np.linspace(0, 1, 21), "share of words the model does not know",
                   "Out-of-vocabulary share")
    fig.suptitle(f"Reference profile: {profile['rows']} {profile['source']}")
    fig.tight_layout()
    return fig


def reliability_figure(bins: Reliability, title: str) -> Figure:
    """A reliability diagram: each confidence bin's accuracy against the diagonal a calibrated model sits on,
    with the bin's rows written above it (empty bins have no bar)."""
    fig, ax = new_figure((7, 4.5))
    width = 1.0 / len(bins.rows)
    centres = (np.arange(len(bins.rows)) + 0.5) * width
    filled = bins.rows > 0
    accuracy = bins.correct[filled] / bins.rows[filled]
    ax.bar(centres[filled], accuracy, width=width * 0.9, color="tab:blue", label="accuracy in the bin")
    ax.plot(centres[filled], bins.confidence[filled] / bins.rows[filled], "o", color="tab:orange",
            label="mean confidence in the bin")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="calibrated")
    for x, y, n in zip(centres[filled], accuracy, bins.rows[filled]):
        ax.annotate(str(int(n)), (x, y), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("confidence of the predicted tag (bins; the number of rows above each bar)")
    ax.set_ylabel("share right")
    ax.set_title(f"{title}: ECE {bins.error:.3f}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def _histogram(ax: Axes, values, bins, xlabel: str, title: str) -> None:
    ax.hist(values, bins=bins, color="tab:blue", edgecolor="white")
    ax.axvline(float(np.mean(values)), color="tab:orange", linestyle="--", label=f"mean {np.mean(values):.3f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("projects")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
