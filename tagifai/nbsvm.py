"""NB-SVM (Wang & Manning, 2012): a linear SVM on features scaled by naive-Bayes log-count ratios.

One binary SVM per class (one-vs-rest), each on the features multiplied by that class's log-count ratio
r_c = log((p_c / |p_c|_1) / (q_c / |q_c|_1)), with p_c / q_c the smoothed counts of documents in / not in
the class that contain each feature. Since w_c . (r_c * x) = (w_c * r_c) . x, the ratios are folded into the
weights after fitting: the result is one ordinary linear model, as cheap to apply as any other.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted


class NBSVMClassifier(ClassifierMixin, BaseEstimator):
    """`C` is the SVM's inverse regularisation; `nb_alpha` the naive-Bayes smoothing of the feature counts.
    The last `n_dense` features are dense real values (embeddings), not counts: their ratio is 1."""

    def __init__(self, C: float = 1.0, nb_alpha: float = 1.0, n_dense: int = 0, random_state: int | None = None):
        self.C = C
        self.nb_alpha = nb_alpha
        self.n_dense = n_dense
        self.random_state = random_state

    def _ratios(self, present: sp.csr_matrix, member: np.ndarray) -> np.ndarray:
        n_counts = present.shape[1] - self.n_dense
        p = self.nb_alpha + np.asarray(present[member].sum(axis=0)).ravel()[:n_counts]
        q = self.nb_alpha + np.asarray(present[~member].sum(axis=0)).ravel()[:n_counts]
        return np.concatenate([np.log((p / p.sum()) / (q / q.sum())), np.ones(self.n_dense)])

    def fit(self, X, y, sample_weight=None) -> NBSVMClassifier:
        X = sp.csr_matrix(X, dtype=np.float64)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"NBSVMClassifier needs at least 2 classes, got {len(self.classes_)}")
        present = (X > 0).astype(np.float64).tocsr()
        # Binary: one model, for the second class (sklearn's convention: positive scores mean classes_[1]).
        targets = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        coefs, intercepts = [], []
        for label in targets:
            member = y == label
            ratio = self._ratios(present, member)
            svm = LinearSVC(C=self.C, random_state=self.random_state)
            svm.fit(X.multiply(ratio).tocsr(), member.astype(int), sample_weight=sample_weight)
            coefs.append(svm.coef_[0] * ratio)
            intercepts.append(svm.intercept_[0])
        self.coef_ = np.vstack(coefs)
        self.intercept_ = np.array(intercepts)
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        return scores.ravel() if len(self.classes_) == 2 else scores

    def predict(self, X) -> np.ndarray:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[scores.argmax(axis=1)]
