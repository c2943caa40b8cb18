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
