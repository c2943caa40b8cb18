"""tagifai.calibration: the temperature, its fit, the expected calibration error, and the scaled classifier in a
pipeline (plain and fast path alike). Tiny fits only: these run in the fast suite."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tagifai.calibration import (
    TEMPERATURE_BOUNDS,
    TemperatureScaled,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    reliability,
)
from tagifai.fastpath import AGREEMENT_TOLERANCE, agreement
from tagifai.predict import Predictor
from tagifai.preprocess import clean_texts

# --- expected calibration error ----------------------------------------------------------------------------------


def test_ece_of_a_hand_computed_case():
    """Bin (0.9, 1]: confidences 0.95 (right) and 0.92 (wrong): accuracy 0.5, mean confidence 0.935.
    Bin (0.6, 0.7]: 0.65 (right), 0.62 (wrong), 0.70 (right, on the upper edge, which belongs to this bin):
    accuracy 2/3, mean confidence 0.656667. ECE = 2/5 * 0.435 + 3/5 * 0.01 = 0.18."""
    proba = np.array([[0.95, 0.05], [0.92, 0.08], [0.35, 0.65], [0.62, 0.38], [0.30, 0.70]])
    labels = ["a", "b", "b", "b", "b"]
    assert expected_calibration_error(labels, proba, ["a", "b"]) == pytest.approx(0.18)


def test_ece_is_zero_when_confidence_is_the_accuracy_and_the_gap_when_not():
    proba = np.tile([0.8, 0.1, 0.1], (10, 1))
    right, wrong = ["x"] * 8 + ["y"] * 2, ["x"] * 5 + ["y"] * 5
    assert expected_calibration_error(right, proba, ["x", "y", "z"]) == pytest.approx(0.0)
    assert expected_calibration_error(wrong, proba, ["x", "y", "z"]) == pytest.approx(0.3)


def test_reliability_bins_are_the_hand_computed_ones_and_give_the_ece():
    """The case above: two rows in (0.9, 1] (one right), three in (0.6, 0.7] (two right), no other bin filled."""
    proba = np.array([[0.95, 0.05], [0.92, 0.08], [0.35, 0.65], [0.62, 0.38], [0.30, 0.70]])
    bins = reliability(["a", "b", "b", "b", "b"], proba, ["a", "b"])
    assert bins.rows.tolist() == [0, 0, 0, 0, 0, 0, 3, 0, 0, 2]
    assert bins.correct.tolist() == [0, 0, 0, 0, 0, 0, 2, 0, 0, 1]
    assert bins.confidence[6] == pytest.approx(0.65 + 0.62 + 0.70) and bins.confidence[9] == pytest.approx(1.87)
    assert bins.error == pytest.approx(0.18)
    with pytest.raises(ValueError, match="at least one row"):
        reliability([], np.empty((0, 2)), ["a", "b"])


def test_ece_names_a_label_that_is_no_class():
    with pytest.raises(ValueError, match=r"labels \['q'\] are not among the classes \['a', 'b'\]"):
        expected_calibration_error(["a", "q"], np.array([[0.6, 0.4], [0.5, 0.5]]), ["a", "b"])


# --- the temperature ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_proba() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.dirichlet(np.ones(4), size=200)


@pytest.mark.parametrize("temperature", [0.3, 0.7, 2.5])
def test_scaling_keeps_every_rows_tag_and_sums_to_one(random_proba, temperature):
    scaled = apply_temperature(random_proba, temperature)
    np.testing.assert_array_equal(scaled.argmax(axis=1), random_proba.argmax(axis=1))
    np.testing.assert_allclose(scaled.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    sharper = scaled.max(axis=1) > random_proba.max(axis=1)
    assert sharper.all() if temperature < 1 else not sharper.any()


def test_temperature_one_is_the_identity_and_zeros_stay_zero(random_proba):
    assert apply_temperature(random_proba, 1.0) is random_proba
    np.testing.assert_array_equal(apply_temperature(np.array([[1.0, 0.0, 0.0]]), 0.5), [[1.0, 0.0, 0.0]])
    tiny = apply_temperature(np.array([[1e-300, 2e-300]]), 0.05)  # no row underflows to 0 / 0
    assert np.isfinite(tiny).all() and tiny.sum() == pytest.approx(1.0)


def test_the_fit_recovers_the_temperature_that_made_probabilities_under_confident():
    """Labels drawn from calibrated probabilities q; the model reports q flattened by T = 2: the fit finds 1/2."""
    rng = np.random.default_rng(1)
    q = rng.dirichlet(np.full(4, 0.3), size=5000)
    classes = np.array(["a", "b", "c", "d"])
    labels = classes[[rng.choice(4, p=row) for row in q]]
    flattened = apply_temperature(q, 2.0)
    fitted = fit_temperature(labels, flattened, classes)
    assert fitted == pytest.approx(0.5, rel=0.05)
    assert expected_calibration_error(labels, apply_temperature(flattened, fitted), classes) < \
        expected_calibration_error(labels, flattened, classes) / 3


def test_the_fit_stays_within_its_bounds_on_separable_data():
    proba = np.array([[0.9, 0.1], [0.2, 0.8]] * 10)
    assert fit_temperature(["a", "b"] * 10, proba, ["a", "b"]) == pytest.approx(TEMPERATURE_BOUNDS[0], rel=1e-3)


# --- in a pipeline: plain and fast path -------------------------------------------------------------------------

TEXTS = ["neural translation of text", "image segmentation with unet", "serving models with docker",
         "sentiment of tweets", "object detection in video", "monitoring deployed models", "language models",
         "convolutional image classifier", "feature store for pipelines", "named entities in text"] * 3
LABELS = ["nlp", "cv", "mlops", "nlp", "cv", "mlops", "nlp", "cv", "mlops", "nlp"] * 3


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    return Pipeline([("tfidf", vectorizer), ("clf", LogisticRegression(C=0.5, max_iter=500))]).fit(TEXTS, LABELS)


def scaled(pipeline: Pipeline, temperature: float) -> Pipeline:
    (name, vectorizer), (clf_name, clf) = pipeline.steps
    return Pipeline([(name, vectorizer), (clf_name, TemperatureScaled.around(clf, temperature))])


def test_a_scaled_pipeline_serves_the_scaled_probabilities_on_both_paths(pipeline):
    predictor = Predictor(scaled(pipeline, 0.4), threshold=0.0)
    texts = ["translation of tweets", "docker for video models"]
    expected = apply_temperature(pipeline.predict_proba(clean_texts(texts)), 0.4)
    assert predictor.temperature == 0.4
    assert predictor.compiled_fast_pipeline() is not None  # the fast path knows the scaled classifier
    np.testing.assert_allclose(predictor.predict_proba(texts), expected, rtol=0, atol=AGREEMENT_TOLERANCE)
    np.testing.assert_allclose(predictor.pipeline.predict_proba(clean_texts(texts)), expected, rtol=0, atol=1e-15)
    check = agreement(predictor, TEXTS)
    assert check.compiled and check.agrees
    assert predictor.predict(texts)["predicted_tag"] == Predictor(pipeline, 0.0).predict(texts)["predicted_tag"]


def test_a_predictor_pickled_before_calibration_loads_with_temperature_one(pipeline):
    """A model logged before this change holds a pipeline with no TemperatureScaled step: T is 1, answers as
    before, and the derived caches (fast path, vocabulary) are not pickled."""
    old = pickle.loads(pickle.dumps(Predictor(pipeline, threshold=0.0)))
    assert old.temperature == 1.0
    np.testing.assert_allclose(old.predict_proba(["sentiment of text"]), pipeline.predict_proba(["sentiment text"]),
                               rtol=0, atol=AGREEMENT_TOLERANCE)
    old.text_stats(["sentiment of text"])
    assert not {"_fast", "_vocabulary"} & set(pickle.loads(pickle.dumps(old)).__dict__)
