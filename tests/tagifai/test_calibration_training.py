"""Calibration inside the training procedure, on the shipped data: the temperature changes confidences, never tags;
cross-validation measures the calibrated model (each fold fits its own T) and meets the search's ECE limit;
the out-of-fold rows carry what the reference profile needs; text stats for the shipped and a char-only model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tagifai import config
from tagifai.calibration import MAX_CV_ECE, expected_calibration_error
from tagifai.crossval import PROFILE_SOURCE, cross_validate, development_set
from tagifai.data import load_projects
from tagifai.preprocess import clean_text
from tagifai.profile import text_stats
from tagifai.train import fit, fit_model, prepare

pytestmark = pytest.mark.slow

COOKING = "Our grandmother's sourdough recipe: knead the dough, let it rise overnight, bake at 250 degrees."


@pytest.fixture(scope="module")
def projects():
    return load_projects(config.DATA_PATH)[0]


@pytest.fixture(scope="module")
def uncalibrated(projects, default_args):
    return fit(projects, replace(default_args, calibration="none"))


@pytest.fixture(scope="module")
def calibrated(projects, default_args):
    assert default_args.calibration == "temperature"  # what config/args.json ships
    return fit(projects, default_args)


def test_the_temperature_changes_confidence_not_tags(uncalibrated, calibrated, default_args):
    """Without a tuned threshold (the shipped configuration) every tag and every F1 is the same."""
    assert not default_args.tune_threshold
    assert uncalibrated.predictor.temperature == 1.0
    assert calibrated.predictor.temperature < 1.0  # the model was under-confident: T sharpens it
    np.testing.assert_array_equal(calibrated.test_pred, uncalibrated.test_pred)
    assert calibrated.performance == uncalibrated.performance
    assert calibrated.val_f1 == uncalibrated.val_f1


def test_calibrated_confidence_is_closer_to_accuracy_on_the_test_split(uncalibrated, calibrated):
    test = calibrated.splits.test
    gaps = {}
    for name, result in (("none", uncalibrated), ("temperature", calibrated)):
        proba = result.predictor.predict_proba(test["text"].tolist())
        classes = result.predictor.classes
        accuracy = (classes[proba.argmax(1)] == test["label"].to_numpy()).mean()
        gaps[name] = (abs(proba.max(1).mean() - accuracy), expected_calibration_error(test["label"], proba, classes))
    assert gaps["temperature"][0] < 0.03 < gaps["none"][0]  # the monitor's accuracy estimate
    assert gaps["temperature"][1] < gaps["none"][1]


def test_the_served_path_agrees_with_the_calibrated_pipeline(calibrated):
    texts = calibrated.splits.test["text"].tolist()
    check = calibrated.predictor.check_fast_path(texts)
    assert check.compiled and check.agrees and calibrated.predictor.use_fast_path


def test_each_fold_fits_its_own_temperature(projects, default_args):
    data = prepare(projects, default_args)[0]
    dev = development_set(data, default_args)
    temperatures = {fit_model(part.iloc[: len(part) * 7 // 10], part.iloc[len(part) * 7 // 10:],
                              default_args).predictor.temperature for part in (dev.iloc[:400], dev.iloc[200:])}
    assert len(temperatures) == 2


@pytest.fixture(scope="module")
def cv(projects, default_args):
    return cross_validate(projects, default_args, n_repeats=1)  # the search's fold seed


def test_cross_validation_meets_the_calibration_limit_with_the_same_f1(projects, default_args, cv):
    uncalibrated = cross_validate(projects, replace(default_args, calibration="none"), n_repeats=1)
    assert cv.scores == uncalibrated.scores
    assert cv.ece <= MAX_CV_ECE < uncalibrated.ece


def test_held_out_rows_carry_probabilities_confidence_and_fold_text_stats(cv):
    rows = cv.predictions
    assert cv.classes == sorted([*config.ACCEPTED_TAGS, config.OTHER_TAG])
    proba = cv.probabilities()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    picked = proba[np.arange(len(rows)), [cv.classes.index(t) for t in rows["predicted"]]]
    np.testing.assert_allclose(rows["confidence"], picked)
    first = rows.iloc[0]
    expected = text_stats(first["text"], clean_text(first["text"]), None)
    assert (first["text_chars"], first["text_words"]) == (expected.chars, expected.words)
    assert rows["oov_share"].between(0, 1).all() and rows["oov_share"].mean() > 0.05


def test_the_reference_profile_is_each_dev_project_once(cv, projects, default_args):
    profile = cv.reference_profile()
    dev = development_set(prepare(projects, default_args)[0], default_args)
    assert profile["rows"] == len(dev) == len(profile["confidence"]) == len(profile["oov_share"])
    assert profile["source"] == PROFILE_SOURCE
    assert sum(profile["tag_shares"].values()) == pytest.approx(1.0)
    assert profile["confidence"] == sorted(profile["confidence"])


def test_out_of_fold_oov_is_measured_against_the_fold_model(projects):
    """A word model knows every word of its training texts: against the model trained on all of them the held-out
    texts have (almost) no unknown words, against their fold's model they do."""
    from tagifai.args import TrainArgs

    args = TrainArgs(analyzer="word", word_ngram_max=1, classifier="logreg", tune_threshold=False)
    cv = cross_validate(projects, args, n_splits=3, n_repeats=1)
    data = prepare(projects, args)[0]
    dev = development_set(data, args)
    seen_all = fit_model(dev, dev.iloc[:50], args).predictor
    memorised = [s.oov_share for s in seen_all.text_stats(cv.predictions["text"].tolist())]
    assert np.mean(memorised) < 0.02 < cv.predictions["oov_share"].mean()


# --- text stats of trained models -------------------------------------------------------------------------------


def test_text_stats_for_the_shipped_model(calibrated):
    predictor = calibrated.predictor
    vocabulary = predictor.vocabulary
    assert len(vocabulary) > 20_000 and {"learning", "image", "sourdough"} & vocabulary == {"learning", "image"}
    nlp, cooking = predictor.text_stats(["Transfer learning with transformers for text classification.", COOKING])
    assert (nlp.chars, nlp.words) == (60, 7)
    assert 0 < cooking.oov_share < 1 and cooking == text_stats(COOKING, clean_text(COOKING), vocabulary)


def test_text_stats_for_a_char_only_model(projects):
    from tagifai.args import TrainArgs

    predictor = fit(projects, TrainArgs(num_epochs=3)).predictor  # the original design: sgd on char_wb n-grams
    assert predictor.vocabulary is None
    [stats] = predictor.text_stats([COOKING])
    assert stats.oov_share is None and stats.chars == len(COOKING) and stats.words == len(COOKING.split())
