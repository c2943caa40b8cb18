"""The confidence threshold below which a prediction falls back to `other`."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from tagifai.config import OTHER_TAG


def apply_threshold(proba: np.ndarray, classes: np.ndarray, threshold: float) -> np.ndarray:
    """Most probable class per row, or `other` where its probability is below the threshold."""
    best = proba.argmax(axis=1)
    pred = classes[best].astype(object)
    if threshold > 0:
        pred[proba[np.arange(len(proba)), best] < threshold] = OTHER_TAG
    return pred


def tune_threshold(
    y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray, minimum: float = 0.0
) -> tuple[float, float]:
    """Threshold maximising weighted F1 on the given (validation) split, and that F1.

    0 (off) is always a candidate and wins ties, so tuning can never lower validation F1.
    With `minimum` > 0 only thresholds >= minimum are candidates (`minimum` itself wins ties): a floor
    that keeps a fallback to `other` for text unlike anything seen, whatever the split says.
    """
    best = proba.max(axis=1)
    candidates = np.unique(np.concatenate([[minimum], best[best >= minimum]]))
    best_t, best_f1 = float(minimum), -1.0
    for t in candidates:
        f1 = f1_score(y_true, apply_threshold(proba, classes, float(t)), average="weighted", zero_division=0)
        if f1 > best_f1 + 1e-12:
            best_t, best_f1 = float(t), float(f1)
    return best_t, best_f1
