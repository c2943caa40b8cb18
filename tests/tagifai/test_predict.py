"""Prediction without MLflow: input validation and the Predictor a training returns."""

from __future__ import annotations

import math
import pickle
import runpy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tagifai import config
from tagifai.args import TrainArgs
from tagifai.data import load_projects
from tagifai.errors import InvalidInputError
from tagifai.predict import EMPTY_INPUT_MESSAGE, validate_texts, validate_threshold
from tagifai.train import fit

# The examples live in tests/conftest.py; it cannot be imported by name (every conftest.py is module
# `conftest` while tests/ is no package, so the last one collected wins), hence read by path.
_ROOT_CONFTEST = runpy.run_path(str(Path(__file__).resolve().parents[1] / "conftest.py"))
EXAMPLE_NLP, EXAMPLE_CV = _ROOT_CONFTEST["EXAMPLE_NLP"], _ROOT_CONFTEST["EXAMPLE_CV"]

# --- validate_texts -----------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [[], (), pd.Series([], dtype=object)])
def test_empty_input_message_is_exact(empty):
    with pytest.raises(InvalidInputError) as exc:
        validate_texts(empty)
    assert str(exc.value) == "List of texts to classify cannot be empty."
    assert EMPTY_INPUT_MESSAGE == "List of texts to classify cannot be empty."


@pytest.mark.parametrize(
    "bad, rule",
    [
        (None, "field 'text' is missing (null)"),
        (float("nan"), "field 'text' is missing (null)"),
        (np.nan, "field 'text' is missing (null)"),
        (42, "field 'text' must be a string, got int"),
        (3.5, "field 'text' must be a string, got float"),
        (["a list"], "field 'text' must be a string, got list"),
        ({"text": "a dict"}, "field 'text' must be a string, got dict"),
        (b"bytes", "field 'text' must be a string, got bytes"),
        ("", "field 'text' is empty or whitespace-only"),
        ("   \t\n ", "field 'text' is empty or whitespace-only"),
    ],
)
def test_each_rule_names_the_row_and_the_rule(bad, rule):
    with pytest.raises(InvalidInputError) as exc:
        validate_texts(["a fine text", "another fine text", bad, "a fine text after it"])
    assert str(exc.value).startswith(f"row 2: {rule}")


def test_first_bad_row_is_reported():
    with pytest.raises(InvalidInputError, match="^row 1: .*empty"):
        validate_texts(["ok", " ", None])


def test_invalid_input_is_a_value_error():
    with pytest.raises(ValueError):
        validate_texts([None])


def test_valid_texts_are_returned_as_a_list():
    assert validate_texts(("a", " b ")) == ["a", " b "]
    assert validate_texts(pd.Series(["x", "y"])) == ["x", "y"]


@pytest.mark.parametrize("bad", [True, False, "0.5", None, -0.01, 1.01, 2, -1, float("nan"), [0.5]])
def test_validate_threshold_rejects(bad):
    with pytest.raises(InvalidInputError) as exc:
        validate_threshold(bad)
    assert "param 'threshold' must be a number between 0 and 1" in str(exc.value)
    assert repr(bad) in str(exc.value)


@pytest.mark.parametrize("good", [0, 1, 0.0, 0.5, 1.0, np.float64(0.3)])
def test_validate_threshold_accepts(good):
    value = validate_threshold(good)
    assert value == good and isinstance(value, float)


# --- a real Predictor, trained in-process (no MLflow) -------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    df, _ = load_projects(config.DATA_PATH)
    args = replace(TrainArgs.from_file(config.ARGS_PATH), num_epochs=5)
    return fit(df, args)


@pytest.fixture(scope="module")
def predictor(fitted):
    return fitted.predictor


def test_predicts_the_examples(predictor):
    out = predictor.predict([EXAMPLE_NLP, EXAMPLE_CV])
    assert out["predicted_tag"] == ["natural-language-processing", "computer-vision"]
    assert out["input_text"] == [EXAMPLE_NLP, EXAMPLE_CV]


def test_output_columns(predictor):
    out = predictor.predict([EXAMPLE_NLP])
    assert list(out) == ["input_text", "predicted_tag", "confidence", "probabilities"]
    assert all(len(column) == 1 for column in out.values())
    assert set(out["probabilities"][0]) == {"natural-language-processing", "computer-vision", "mlops", "other"}


def test_probabilities_sum_to_one_and_confidence_is_the_predicted_tags(predictor):
    out = predictor.predict([EXAMPLE_NLP, EXAMPLE_CV, "MLflow model registry and CI for deployment", "xyz"])
    for tag, confidence, proba in zip(out["predicted_tag"], out["confidence"], out["probabilities"]):
        assert math.isclose(sum(proba.values()), 1.0, abs_tol=1e-6)
        assert all(0.0 <= p <= 1.0 for p in proba.values())
        assert confidence == proba[tag]


def test_default_threshold_is_the_tuned_one(predictor, fitted):
    assert predictor.threshold == fitted.predictor.threshold
    unsure = "xyz"
    proba = predictor.predict([unsure], threshold=0.0)["probabilities"][0]
    expected = "other" if max(proba.values()) < predictor.threshold else max(proba, key=proba.get)
    assert predictor.predict([unsure])["predicted_tag"] == [expected]


def test_threshold_one_forces_other(predictor):
    out = predictor.predict([EXAMPLE_NLP, EXAMPLE_CV], threshold=1.0)
    assert out["predicted_tag"] == ["other", "other"]
    # confidence is then that of `other`, and probabilities are unchanged by the threshold
    assert out["confidence"] == [p["other"] for p in out["probabilities"]]
    assert out["probabilities"] == predictor.predict([EXAMPLE_NLP, EXAMPLE_CV], threshold=0.0)["probabilities"]


def test_bad_threshold_is_refused(predictor):
    with pytest.raises(InvalidInputError, match="param 'threshold'"):
        predictor.predict([EXAMPLE_NLP], threshold=2)


def test_bad_texts_are_refused(predictor):
    with pytest.raises(InvalidInputError, match="^row 1: field 'text' must be a string, got int"):
        predictor.predict([EXAMPLE_NLP, 7])
    with pytest.raises(InvalidInputError, match=f"^{EMPTY_INPUT_MESSAGE}$"):
        predictor.predict([])


def test_predict_time_cleaning_equals_training_cleaning(predictor):
    messy, clean = predictor.predict(["TRANSFER   learning!!!", "transfer learning"])["probabilities"]
    assert messy == clean
    with_noise = "The GANs, for IMAGE generation: see https://github.com/some/repo !!"
    assert predictor.predict([with_noise])["probabilities"] == predictor.predict(["gans image generation see"])[
        "probabilities"
    ]


def test_predict_proba_matches_the_training_pipeline_on_cleaned_text(predictor, fitted):
    """Predicting raw test texts gives what evaluation saw on the training-time cleaned texts."""
    test = fitted.splits.test
    np.testing.assert_allclose(
        predictor.predict_proba(test["text"].tolist()), predictor.pipeline.predict_proba(test["clean"]), atol=1e-12
    )


def test_predictor_survives_pickling(predictor):
    """The model artifact is a pickled (joblib) Predictor: it must predict the same after a round trip."""
    restored = pickle.loads(pickle.dumps(predictor))
    assert restored.predict([EXAMPLE_NLP, EXAMPLE_CV]) == predictor.predict([EXAMPLE_NLP, EXAMPLE_CV])
