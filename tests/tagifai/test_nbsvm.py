"""NB-SVM: naive-Bayes-scaled one-vs-rest linear SVMs, folded into one ordinary linear model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from tagifai.nbsvm import NBSVMClassifier

DOCS = ["bert language model text", "sentence text classification", "language translation text",
        "image pixels convolution", "image segmentation pixels", "object detection image camera",
        "docker kubernetes deploy", "deploy model serving docker", "monitoring kubernetes deploy"]
LABELS = np.array(["nlp"] * 3 + ["cv"] * 3 + ["mlops"] * 3)


@pytest.fixture(scope="module")
def X():
    return TfidfVectorizer().fit_transform(DOCS)


def test_folded_weights_equal_the_svms_on_scaled_features(X):
    clf = NBSVMClassifier(C=1.0, random_state=0).fit(X, LABELS)
    present = (X > 0).astype(float)
    for i, label in enumerate(clf.classes_):
        member = LABELS == label
        p = 1 + np.asarray(present[member].sum(0)).ravel()
        q = 1 + np.asarray(present[~member].sum(0)).ravel()
        ratio = np.log((p / p.sum()) / (q / q.sum()))
        svm = LinearSVC(C=1.0, random_state=0).fit(X.multiply(ratio).tocsr(), member.astype(int))
        np.testing.assert_allclose(clf.decision_function(X)[:, i],
                                   svm.decision_function(X.multiply(ratio).tocsr()), rtol=1e-6, atol=1e-9)


def test_learns_the_training_documents(X):
    clf = NBSVMClassifier(C=10.0).fit(X, LABELS)
    assert clf.predict(X).tolist() == LABELS.tolist()
    assert clf.coef_.shape == (3, X.shape[1])


def test_binary_has_one_model_and_a_1d_decision(X):
    y = np.where(LABELS == "nlp", "nlp", "rest")
    clf = NBSVMClassifier(C=10.0).fit(X, y)
    assert clf.coef_.shape == (1, X.shape[1])
    assert clf.decision_function(X).ndim == 1
    assert clf.predict(X).tolist() == y.tolist()


def test_one_class_is_refused(X):
    with pytest.raises(ValueError, match="at least 2 classes"):
        NBSVMClassifier().fit(X, np.array(["nlp"] * len(DOCS)))


def test_calibrated_probabilities_with_sample_weights(X):
    clf = CalibratedClassifierCV(NBSVMClassifier(C=10.0), method="sigmoid", cv=3, ensemble=False)
    clf.fit(X, LABELS, sample_weight=np.linspace(0.5, 1.5, len(DOCS)))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.classes_[proba.argmax(1)].tolist() == LABELS.tolist()


@pytest.mark.parametrize("labels", [LABELS, np.where(LABELS == "nlp", "nlp", "rest")], ids=["multiclass", "binary"])
@pytest.mark.parametrize("make", [lambda: NBSVMClassifier(C=10.0), lambda: LinearSVC(C=1.0)], ids=["nbsvm", "svm"])
def test_the_compact_calibrated_form_gives_scikit_learns_probabilities(X, labels, make):
    from tagifai.calibrated import SigmoidCalibratedLinear

    calibrated = CalibratedClassifierCV(make(), method="sigmoid", cv=3, ensemble=False).fit(X, labels)
    compact = SigmoidCalibratedLinear.from_calibrated(calibrated)
    assert compact is not None
    np.testing.assert_allclose(compact.predict_proba(X), calibrated.predict_proba(X), rtol=1e-12, atol=1e-12)
    assert compact.predict(X).tolist() == calibrated.predict(X).tolist()
    assert compact.classes_.tolist() == calibrated.classes_.tolist()


def test_what_the_compact_form_cannot_express_is_left_alone(X):
    from tagifai.calibrated import SigmoidCalibratedLinear

    ensemble = CalibratedClassifierCV(LinearSVC(), method="sigmoid", cv=3, ensemble=True).fit(X, LABELS)
    assert SigmoidCalibratedLinear.from_calibrated(ensemble) is None
    isotonic = CalibratedClassifierCV(LinearSVC(), method="isotonic", cv=3, ensemble=False).fit(X, LABELS)
    assert SigmoidCalibratedLinear.from_calibrated(isotonic) is None


def test_dense_columns_get_no_naive_bayes_ratio(X):
    """Embedding columns are real values, not counts: with n_dense they enter the SVM unscaled."""
    import scipy.sparse as sp

    dense = np.random.default_rng(0).normal(size=(X.shape[0], 3))
    both = sp.hstack([X, sp.csr_matrix(dense)], format="csr")
    clf = NBSVMClassifier(C=1.0, n_dense=3, random_state=0).fit(both, LABELS)
    present = (X > 0).astype(float)
    for i, label in enumerate(clf.classes_):
        member = LABELS == label
        p = 1 + np.asarray(present[member].sum(0)).ravel()
        q = 1 + np.asarray(present[~member].sum(0)).ravel()
        ratio = np.concatenate([np.log((p / p.sum()) / (q / q.sum())), np.ones(3)])
        svm = LinearSVC(C=1.0, random_state=0).fit(both.multiply(ratio).tocsr(), member.astype(int))
        np.testing.assert_allclose(clf.coef_[i], svm.coef_[0] * ratio, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_unclaimed_probability_goes_to_other(X, share):
    """Where the one-vs-rest probabilities sum to less than 1, `share` of the rest goes to the catch-all class;
    elsewhere the probabilities are scikit-learn's."""
    from scipy.special import expit

    from tagifai.calibrated import SigmoidCalibratedLinear

    labels = np.where(LABELS == "mlops", "other", LABELS)
    calibrated = CalibratedClassifierCV(NBSVMClassifier(C=10.0), method="sigmoid", cv=3, ensemble=False)
    calibrated.fit(X, labels)
    compact = SigmoidCalibratedLinear.from_calibrated(calibrated, unclaimed_to="other", unclaimed_share=share)
    texts = TfidfVectorizer().fit(DOCS).transform(["bert text", "zzz unknown words", "image camera"])
    X_new = sp_vstack([X, texts])
    ovr = expit(-((np.asarray(X_new @ compact.coef) + compact.intercept) * compact.a + compact.b))
    other = compact.classes_.tolist().index("other")
    expected = ovr.copy()
    expected[:, other] += share * np.maximum(1 - ovr.sum(axis=1), 0)
    expected /= expected.sum(axis=1, keepdims=True)
    got = compact.predict_proba(X_new)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    claimed = ovr.sum(axis=1) >= 1
    np.testing.assert_allclose(got[claimed], calibrated.predict_proba(X_new)[claimed], rtol=1e-12)
    assert (ovr.sum(axis=1) < 1).any()  # the case under test occurs
    if share == 0:
        np.testing.assert_allclose(got, calibrated.predict_proba(X_new), rtol=1e-12)


def test_unclaimed_needs_the_class_to_exist(X):
    from tagifai.calibrated import SigmoidCalibratedLinear

    calibrated = CalibratedClassifierCV(NBSVMClassifier(C=10.0), method="sigmoid", cv=3, ensemble=False).fit(X, LABELS)
    compact = SigmoidCalibratedLinear.from_calibrated(calibrated, unclaimed_to="other")
    assert compact.unclaimed_to is None  # no `other` among nlp / cv / mlops: scikit-learn's numbers
    np.testing.assert_allclose(compact.predict_proba(X), calibrated.predict_proba(X), rtol=1e-12)


def sp_vstack(blocks):
    import scipy.sparse as sp

    return sp.vstack(blocks, format="csr")
