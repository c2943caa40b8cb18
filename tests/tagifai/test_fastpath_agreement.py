"""The fast path proves itself: scikit-learn internals read in one adapter (a missing one means the plain pipeline
serves), and `agreement` / `Predictor.check_fast_path` turn the fast path off when it differs from the pipeline."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tagifai import config
from tagifai.args import TrainArgs
from tagifai.data import load_projects
from tagifai.features import build_vectorizer
from tagifai.fastpath import AGREEMENT_TOLERANCE, FastPipeline, agreement
from tagifai.predict import Predictor
from tagifai.preprocess import apply_mapping, clean_texts, label_mapping
from tagifai.sklearn_adapter import MissingInternals, tfidf_internals


@pytest.fixture(scope="module")
def projects():
    df, _ = load_projects(config.DATA_PATH)
    mapping = label_mapping(df["tag"].tolist(), min_freq=30)
    labels = apply_mapping(df["tag"], mapping).to_numpy()
    return df["text"].tolist(), labels


def fit_predictor(projects, n: int = 400) -> Predictor:
    """char_wb TF-IDF + logistic regression, what the fast path replays (private attributes included)."""
    texts, labels = projects
    vectorizer = build_vectorizer(TrainArgs(analyzer="char_wb"))
    pipeline = Pipeline([("tfidf", vectorizer), ("clf", LogisticRegression(C=10, max_iter=500))])
    return Predictor(pipeline.fit(clean_texts(texts[:n]), labels[:n]), threshold=0.3)


def plain_answer(pipeline: Pipeline, texts: list[str]) -> np.ndarray:
    return pipeline.predict_proba(clean_texts(texts))


class CountingPipeline:
    """Counts the plain pipeline's predict_proba calls on one pipeline instance (scikit-learn is not patched)."""

    def __init__(self, pipeline: Pipeline):
        self.calls = 0
        original = pipeline.predict_proba

        def counted(X):
            self.calls += 1
            return original(X)

        pipeline.predict_proba = counted


# --- the adapter ---------------------------------------------------------------------------------------------------


def test_a_missing_private_attribute_is_a_specific_error_and_no_fast_path(projects):
    predictor = fit_predictor(projects)
    vectorizer = copy.deepcopy(predictor.pipeline.steps[0][1])
    assert tfidf_internals(vectorizer).word_ngrams is not None
    del vectorizer._tfidf  # a scikit-learn that keeps the fitted transformer elsewhere
    with pytest.raises(MissingInternals, match="_tfidf is missing"):
        tfidf_internals(vectorizer)
    assert FastPipeline.compile(Pipeline([("tfidf", vectorizer), ("clf", predictor.pipeline.steps[1][1])])) is None


class NewerTfidfTransformer(TfidfTransformer):
    """Stands for a scikit-learn whose vectorizer holds another transformer class: same public behaviour."""


def test_unknown_internals_fall_back_to_the_plain_pipeline_and_stay_correct(projects):
    texts = projects[0][400:460]
    intact = fit_predictor(projects)
    expected = intact.predict(texts)
    predictor = pickle.loads(pickle.dumps(intact))
    vectorizer = predictor.pipeline.steps[0][1]
    newer = NewerTfidfTransformer()
    newer.__dict__.update(vectorizer._tfidf.__dict__)  # the very same fitted state
    vectorizer._tfidf = newer
    with pytest.raises(MissingInternals, match="not a TfidfTransformer"):
        tfidf_internals(vectorizer)

    counter = CountingPipeline(predictor.pipeline)
    got = predictor.predict(texts)
    assert predictor._fast_pipeline() is None
    assert counter.calls == 1  # the plain pipeline answered
    assert got["predicted_tag"] == expected["predicted_tag"]
    assert np.abs(np.array(got["confidence"]) - np.array(expected["confidence"])).max() <= AGREEMENT_TOLERANCE
    assert np.allclose(predictor.predict_proba(texts), plain_answer(intact.pipeline, texts), rtol=0,
                       atol=AGREEMENT_TOLERANCE)


# --- agreement and the flag ------------------------------------------------------------------------------------------


def test_agreement_on_a_fast_path_that_agrees_keeps_it_serving(projects):
    predictor = fit_predictor(projects)
    texts = projects[0][400:]
    check = predictor.check_fast_path(texts)
    assert check.compiled and check.agrees and check.tags_equal
    assert check.max_abs_diff <= AGREEMENT_TOLERANCE and check.n_texts == len(texts)
    assert check.metrics() == {"fastpath_max_abs_diff": check.max_abs_diff, "fastpath_tags_equal": 1.0,
                               "fastpath_agrees": 1.0, "fastpath_n_texts": float(len(texts))}
    assert predictor.use_fast_path
    counter = CountingPipeline(predictor.pipeline)
    predictor.predict(texts[:5])
    assert counter.calls == 0  # the fast path served


def test_a_fast_path_that_disagrees_is_turned_off_and_the_plain_pipeline_serves(projects):
    predictor = fit_predictor(projects)
    texts = projects[0][400:]
    fast = predictor.compiled_fast_pipeline()
    # Corrupt this instance's compiled copy only (a new array: the vectorizer's own idf_ is untouched).
    fast.blocks[0].idf = np.roll(fast.blocks[0].idf, 1)
    assert np.abs(predictor.predict_proba(texts) - plain_answer(predictor.pipeline, texts)).max() > 1e-3

    check = predictor.check_fast_path(texts)

    assert check.compiled and not check.agrees and check.max_abs_diff > AGREEMENT_TOLERANCE
    assert check.metrics()["fastpath_agrees"] == 0.0
    assert predictor.use_fast_path is False and predictor._fast_pipeline() is None
    expected = plain_answer(predictor.pipeline, texts)
    counter = CountingPipeline(predictor.pipeline)
    assert np.array_equal(predictor.predict_proba(texts), expected)
    assert counter.calls == 1
    del predictor.pipeline.predict_proba  # the counter
    # The flag is pickled with the predictor (the compiled path never is): the logged model serves plain too.
    loaded = pickle.loads(pickle.dumps(predictor))
    assert loaded.use_fast_path is False and loaded._fast_pipeline() is None
    assert loaded.predict(texts[:20]) == predictor.predict(texts[:20])


def test_a_fast_path_that_raises_is_a_disagreement(projects):
    predictor = fit_predictor(projects)
    fast = predictor.compiled_fast_pipeline()
    fast.blocks[0].vocabulary = None  # broken on this instance only
    check = agreement(predictor, projects[0][400:420])
    assert not check.agrees and check.max_abs_diff == float("inf") and "AttributeError" in check.error


def test_a_pipeline_the_fast_path_does_not_know_agrees_trivially(projects):
    from sklearn.feature_extraction.text import CountVectorizer

    texts, labels = projects
    pipeline = Pipeline([("count", CountVectorizer()), ("clf", LogisticRegression(max_iter=500))])
    predictor = Predictor(pipeline.fit(clean_texts(texts[:300]), labels[:300]), threshold=0.0)
    check = predictor.check_fast_path(texts[300:350])
    assert check.agrees and not check.compiled and predictor.use_fast_path


def test_predictors_pickled_before_the_flag_existed_use_the_fast_path(projects):
    predictor = fit_predictor(projects)
    state = predictor.__getstate__()
    state.pop("use_fast_path")
    old = Predictor.__new__(Predictor)
    old.__dict__.update(state)
    assert old.use_fast_path and old._fast_pipeline() is not None


def test_missing_calibration_internals_keep_scikit_learns_calibrated_classifier(projects):
    """tagifai.calibrated's compact form reads the calibrators through the adapter too: without them training
    keeps CalibratedClassifierCV itself (tagifai.train._calibrated), which the fast path leaves to scikit-learn."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    from tagifai.calibrated import SigmoidCalibratedLinear
    from tagifai.sklearn_adapter import sigmoid_calibration

    texts, labels = projects
    vectorizer = build_vectorizer(TrainArgs(analyzer="word"))
    X = vectorizer.fit_transform(clean_texts(texts[:300]))
    calibrated = CalibratedClassifierCV(LinearSVC(), method="sigmoid", cv=3, ensemble=False).fit(X, labels[:300])
    assert sigmoid_calibration(calibrated).a.shape == (len(calibrated.classes_),)
    assert SigmoidCalibratedLinear.from_calibrated(calibrated) is not None
    broken = copy.deepcopy(calibrated)
    del broken.calibrated_classifiers_[0].calibrators[0].a_
    with pytest.raises(MissingInternals, match="a_ is missing"):
        sigmoid_calibration(broken)
    assert SigmoidCalibratedLinear.from_calibrated(broken) is None
    assert FastPipeline.compile(Pipeline([("tfidf", vectorizer), ("clf", calibrated)])) is not None  # features replayed, its own predict_proba
