"""A sigmoid-calibrated linear classifier in its compact form, for prediction.

`CalibratedClassifierCV(method="sigmoid", ensemble=False)` around a linear model predicts, per class c,
sigmoid(-(a_c * (x . w_c + b0_c) + b_c)), then normalises the row. Those are a handful of arrays, but each call
goes through scikit-learn's input checks, a label encoder and one calibrator object per class: ~0.7 ms for
one row, several times the features and the model together. `SigmoidCalibratedLinear.from_calibrated` reads
the fitted numbers once and computes the same probabilities directly (tests compare them to scikit-learn's).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV

from tagifai.sklearn_adapter import MissingInternals, sigmoid_calibration


class SigmoidCalibratedLinear(ClassifierMixin, BaseEstimator):
    """Fitted only through `from_calibrated`; predict_proba equals the calibrated classifier's (unless
    `unclaimed_to` names a class)."""

    def __init__(self, classes=None, coef=None, intercept=None, a=None, b=None, unclaimed_to=None,
                 unclaimed_share=1.0):
        self.classes = classes
        self.coef = coef
        self.intercept = intercept
        self.a = a
        self.b = b
        self.unclaimed_to = unclaimed_to
        self.unclaimed_share = unclaimed_share

    @classmethod
    def from_calibrated(cls, clf, unclaimed_to=None, unclaimed_share=1.0) -> SigmoidCalibratedLinear | None:
        """The compact form of a fitted CalibratedClassifierCV, or None when it is not one this can express.

        `unclaimed_to` (a class, e.g. `other`): the probability that no one-vs-rest model claims goes to it
        (see predict_proba), or `unclaimed_share` of it; None keeps scikit-learn's numbers."""
        if not isinstance(clf, CalibratedClassifierCV) or clf.method != "sigmoid":
            return None
        try:
            calibration = sigmoid_calibration(clf)
        except MissingInternals:
            return None  # ensemble=True (an average of several models), or internals this version does not have
        estimator = calibration.estimator
        if not (hasattr(estimator, "coef_") and hasattr(estimator, "intercept_")):
            return None
        if not np.array_equal(np.asarray(estimator.classes_), np.asarray(clf.classes_)):
            return None
        coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
        out = cls(
            classes=np.asarray(clf.classes_),
            coef=np.ascontiguousarray(coef.T),  # (n_features, n_scores): sparse @ dense without a copy
            intercept=np.asarray(estimator.intercept_, dtype=np.float64).ravel(),
            a=calibration.a,
            b=calibration.b,
            unclaimed_to=unclaimed_to if unclaimed_to in set(np.asarray(clf.classes_).tolist()) else None,
            unclaimed_share=unclaimed_share,
        )
        out.classes_ = out.classes
        out.n_features_in_ = coef.shape[1]
        return out

    def fit(self, X, y=None):
        raise NotImplementedError("built from a fitted CalibratedClassifierCV: use from_calibrated")

    def decision_function(self, X) -> np.ndarray:
        scores = np.asarray(X @ self.coef) + self.intercept
        return scores.ravel() if len(self.classes) == 2 else scores

    def predict_proba(self, X) -> np.ndarray:
        return self.proba_from_scores(np.asarray(X @ self.coef) + self.intercept)

    def proba_from_scores(self, scores: np.ndarray) -> np.ndarray:
        """Probabilities from decision scores `X @ coef + intercept` (tagifai.fastpath sums those per block)."""
        p = expit(-(scores * self.a + self.b))
        if len(self.classes) == 2:
            proba = np.hstack([1.0 - p, p])
        else:
            if getattr(self, "unclaimed_to", None) is not None:
                # Each class's calibrated one-vs-rest probability is P(this tag | text). When they sum to less
                # than 1, the rest is the chance that no tag applies, which is what the catch-all class means:
                # text unlike any training project ("Our team orders pizza every Friday.") goes there, instead
                # of being normalised into whichever tag is least unlikely.
                other = int(np.flatnonzero(self.classes == self.unclaimed_to)[0])
                p[:, other] += self.unclaimed_share * np.maximum(1.0 - p.sum(axis=1), 0.0)
            total = p.sum(axis=1, keepdims=True)
            proba = np.divide(p, total, out=np.full_like(p, 1.0 / p.shape[1]), where=total != 0)
        proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba

    def predict(self, X) -> np.ndarray:
        return self.classes[self.predict_proba(X).argmax(axis=1)]
