"""Feature and threshold options added for the search: each one has an effect, and only is logged where it does."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tagifai.args import TrainArgs
from tagifai.errors import InvalidArgsError
from tagifai.features import build_vectorizer
from tagifai.threshold import tune_threshold

DOCS = ["attention language model", "image pixels model", "model serving model", "language image serving"]


def char_lengths(args: TrainArgs) -> set[int]:
    vec = build_vectorizer(replace(args, analyzer="char_wb")).fit(DOCS)
    return {len(f) for f in vec.vocabulary_}


def test_char_ngram_min_sets_the_shortest_char_ngram():
    assert min(char_lengths(TrainArgs(char_ngram_min=1, ngram_max_range=3))) == 1
    assert char_lengths(TrainArgs(char_ngram_min=3, ngram_max_range=4)) == {3, 4}


def test_max_df_drops_terms_in_too_many_documents():
    everywhere = build_vectorizer(TrainArgs(analyzer="word", word_ngram_max=1, max_df=1.0)).fit(DOCS)
    assert "model" in everywhere.vocabulary_
    capped = build_vectorizer(TrainArgs(analyzer="word", word_ngram_max=1, max_df=0.5)).fit(DOCS)
    assert "model" not in capped.vocabulary_ and "language" in capped.vocabulary_


@pytest.mark.parametrize(
    "values, fragment",
    [({"char_ngram_min": 3, "ngram_max_range": 2}, "ngram_max_range=2: must be >= 3"),
     ({"max_df": 0.0}, "max_df=0.0: must be in (0, 1]"),
     ({"min_threshold": 1.0}, "min_threshold=1.0: must be in [0, 1)"),
     ({"threshold_method": "test"}, "threshold_method='test': must be one of val, oof")],
)
def test_new_arguments_are_validated(values, fragment):
    with pytest.raises(InvalidArgsError) as exc:
        TrainArgs(**values)
    assert fragment in str(exc.value)


def test_threshold_options_are_logged_only_when_the_threshold_is_tuned():
    assert {"threshold_method", "min_threshold"} <= set(TrainArgs(tune_threshold=True).to_params())
    untuned = TrainArgs(tune_threshold=False).to_params()
    assert "threshold_method" not in untuned and "min_threshold" not in untuned
    assert "tune_threshold" in untuned


def test_nbsvm_logs_no_sgd_only_argument():
    params = TrainArgs(classifier="nbsvm").to_params()
    assert params["classifier"] == "nbsvm" and "alpha" in params
    assert not {"loss", "learning_rate", "eta0", "num_epochs"} & set(params)


CLASSES = np.array(["computer-vision", "natural-language-processing", "other"])


def test_the_threshold_floor_is_respected_and_wins_ties():
    y = np.array(["computer-vision", "natural-language-processing", "other"])
    proba = np.array([[0.9, 0.05, 0.05], [0.1, 0.85, 0.05], [0.5, 0.2, 0.3]])
    assert tune_threshold(y, proba, CLASSES)[0] > 0.5  # F1 wants `other` for the unsure third row
    t, f1 = tune_threshold(y, proba, CLASSES, minimum=0.95)
    assert t == 0.95 and f1 < 1.0  # only thresholds >= 0.95 are allowed
    confident = np.array([[0.9, 0.05, 0.05], [0.1, 0.85, 0.05], [0.1, 0.1, 0.8]])
    assert tune_threshold(y, confident, CLASSES, minimum=0.4) == (0.4, 1.0)
