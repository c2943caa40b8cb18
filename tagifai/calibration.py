"""Temperature calibration of the predicted probabilities, and the expected calibration error that measures it.

Why: the monitor estimates accuracy before labels arrive as the mean confidence of the served predictions, which
only works if a confidence of 0.9 means right 9 times in 10. The champion was under-confident (mean confidence
~0.89 on unseen projects it got ~97% right). One temperature T per model fixes the bulk of that: every row's
probabilities p become p^(1/T), renormalised (T < 1 sharpens, T > 1 flattens). A power is monotone, so every
row keeps its argmax: without a threshold the predicted tags, and so every F1, are unchanged.

T is fitted (log-loss, one bounded scalar search on log T) on probabilities the model did not learn from: in
tagifai.train, the train-only pipeline's on the validation split. `TemperatureScaled` holds T as the pipeline's
last step, so `pipeline.predict_proba` is the calibrated answer everywhere (training scores, cross-validation,
the fast path's agreement check, serving's reference answers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin

ECE_BINS = 10
# The search's constraint (tagifai.search) and what the shipped configuration must meet: cv_ece at most this.
MAX_CV_ECE = 0.03
TEMPERATURE_BOUNDS = (0.05, 20.0)  # far beyond any fitted value; keeps the search finite on separable data
_LOG_FLOOR = 1e-15  # log-loss clips probabilities here, as scikit-learn's log_loss does


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Rows of probabilities raised to 1/T and renormalised (the same array back when T = 1)."""
    if temperature == 1.0:
        return proba
    proba = np.asarray(proba, dtype=np.float64)
    top = proba.max(axis=1, keepdims=True)
    # Divided by each row's largest value first: the largest term is then 1, so no row underflows to all zeros.
    scaled = np.power(np.divide(proba, top, out=np.zeros_like(proba), where=top > 0), 1.0 / temperature)
    return scaled / scaled.sum(axis=1, keepdims=True)


def _log_loss(proba: np.ndarray, index: np.ndarray) -> float:
    return float(-np.log(np.clip(proba[np.arange(len(index)), index], _LOG_FLOOR, 1.0)).mean())


def label_index(y_true: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Each label's column in the probabilities; ValueError naming a label that is no class."""
    position = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    unknown = sorted({y for y in np.asarray(y_true).tolist() if y not in position})
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {list(position)}")
    return np.array([position[y] for y in np.asarray(y_true).tolist()], dtype=np.intp)


def fit_temperature(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> float:
    """The T in TEMPERATURE_BOUNDS that minimises the log-loss of apply_temperature(proba, T) on `y_true`."""
    index = label_index(y_true, classes)
    if len(index) == 0:
        raise ValueError("fit_temperature needs at least one labelled row")
    proba = np.asarray(proba, dtype=np.float64)
    low, high = np.log(TEMPERATURE_BOUNDS)
    found = minimize_scalar(lambda log_t: _log_loss(apply_temperature(proba, float(np.exp(log_t))), index),
                            bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))


class Reliability(NamedTuple):
    """Rows binned by their largest probability into equal-width bins of (0, 1]: per bin, the rows, how many were
    right and the sum of their confidences (a reliability diagram's bars; ECE is their weighted gap)."""

    rows: np.ndarray
    correct: np.ndarray
    confidence: np.ndarray

    @property
    def error(self) -> float:
        """Top-label ECE: the mean over rows of |accuracy - mean confidence| of their bin."""
        return float(np.abs(self.correct - self.confidence).sum() / self.rows.sum())


def reliability(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], bins: int = ECE_BINS) -> Reliability:
    """The rows' top-label confidence against their accuracy, in `bins` bins (a confidence of exactly 0 goes to the
    first); ValueError without rows or with a label that is no class."""
    index = label_index(y_true, classes)
    proba = np.asarray(proba, dtype=np.float64)
    if len(index) == 0:
        raise ValueError("reliability needs at least one row")
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == index).astype(np.float64)
    # Edges from linspace, upper edge inclusive: 0.3 falls in (0.2, 0.3] although 0.3 * 10 > 3.0 in floats.
    which = np.digitize(confidence, np.linspace(0.0, 1.0, bins + 1)[1:-1], right=True)
    return Reliability(np.bincount(which, minlength=bins), np.bincount(which, correct, minlength=bins),
                       np.bincount(which, confidence, minlength=bins))


def expected_calibration_error(y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str],
                               bins: int = ECE_BINS) -> float:
    """Top-label ECE in `bins` equal-width bins (see `reliability`)."""
    return reliability(y_true, proba, classes, bins).error


class TemperatureScaled(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose probabilities are temperature-scaled: the pipeline's last step once a model is
    calibrated (tagifai.fastpath unwraps it and applies the same `apply_temperature`)."""

    def __init__(self, estimator=None, temperature: float = 1.0):
        self.estimator = estimator
        self.temperature = temperature

    @classmethod
    def around(cls, estimator, temperature: float) -> TemperatureScaled:
        out = cls(estimator, temperature)
        out.classes_ = estimator.classes_
        if hasattr(estimator, "n_features_in_"):
            out.n_features_in_ = estimator.n_features_in_
        return out

    def fit(self, X, y=None):
        raise NotImplementedError("wraps a fitted classifier: use TemperatureScaled.around")

    def predict_proba(self, X) -> np.ndarray:
        return apply_temperature(self.estimator.predict_proba(X), self.temperature)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.estimator.predict_proba(X).argmax(axis=1)]  # T keeps every row's argmax
