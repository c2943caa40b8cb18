"""Performance overall, per class and on slices, shaped as performance.json."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from tagifai.config import ACCEPTED_TAGS

NLP = ACCEPTED_TAGS[0]


def nlp_cnn(df: pd.DataFrame) -> pd.Series:
    """NLP projects that mention convolutions: a known confusion with computer vision."""
    mentions = df["text"].str.contains(r"\bcnn|convolution", case=False, regex=True)
    return (df["label"] == NLP) & mentions


def short_text(df: pd.DataFrame) -> pd.Series:
    """Projects described in fewer than 8 words: little signal to go on."""
    return df["text"].str.split().str.len() < 8


SLICES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {"nlp_cnn": nlp_cnn, "short_text": short_text}


def _scores(y_true, y_pred, average: str | None, labels=None) -> tuple:
    return precision_recall_fscore_support(y_true, y_pred, average=average, labels=labels, zero_division=0)


def overall_metrics(y_true, y_pred) -> dict:
    p, r, f, _ = _scores(y_true, y_pred, "weighted")
    return {"precision": float(p), "recall": float(r), "f1": float(f), "num_samples": int(len(y_true))}


def evaluate(df: pd.DataFrame, y_pred: np.ndarray, classes: list[str]) -> dict:
    """`df` has `text` and `label` columns; `y_pred` the predicted label per row."""
    y_true = df["label"].to_numpy()
    y_pred = np.asarray(y_pred)
    p, r, f, n = _scores(y_true, y_pred, None, labels=classes)
    per_class = {
        c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "num_samples": int(n[i])}
        for i, c in enumerate(classes)
    }
    slices = {}
    for name, mask_fn in SLICES.items():
        mask = mask_fn(df).to_numpy()
        slices[name] = overall_metrics(y_true[mask], y_pred[mask]) if mask.any() else {"num_samples": 0}
    return {"overall": overall_metrics(y_true, y_pred), "class": per_class, "slices": slices}


def flatten_metrics(performance: dict) -> dict[str, float]:
    """performance.json -> MLflow metric names: precision, class/<tag>/f1, slices/<name>/f1, ..."""
    flat = {k: v for k, v in performance["overall"].items()}
    for group in ("class", "slices"):
        for name, scores in performance[group].items():
            flat.update({f"{group}/{name}/{k}": v for k, v in scores.items()})
    return flat
