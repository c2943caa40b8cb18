"""The confidence threshold: fallback to `other`, and tuning that never makes validation F1 worse."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from tagifai.threshold import apply_threshold, tune_threshold

CLASSES = np.array(["computer-vision", "natural-language-processing", "other"])
CV, NLP, OTHER = CLASSES


def weighted_f1(y_true, y_pred) -> float:
    return float(f1_score(y_true, y_pred, average="weighted", zero_division=0))


# --- apply_threshold ----------------------------------------------------------------------------

PROBA = np.array(
    [
        [0.10, 0.80, 0.10],  # nlp, confident
        [0.45, 0.40, 0.15],  # cv, unsure
        [0.50, 0.30, 0.20],  # cv, exactly 0.5
    ]
)


def test_zero_means_off():
    assert apply_threshold(PROBA, CLASSES, 0.0).tolist() == [NLP, CV, CV]
    tiny = np.array([[0.34, 0.33, 0.33]])
    assert apply_threshold(tiny, CLASSES, 0.0).tolist() == [CV]


def test_below_threshold_falls_back_to_other():
    assert apply_threshold(PROBA, CLASSES, 0.5).tolist() == [NLP, OTHER, CV]  # 0.45 is below 0.5, 0.5 is not
    assert apply_threshold(PROBA, CLASSES, 0.6).tolist() == [NLP, OTHER, OTHER]
    assert apply_threshold(PROBA, CLASSES, 0.9).tolist() == [OTHER, OTHER, OTHER]


def test_threshold_one_forces_other_unless_certain():
    certain = np.array([[0.0, 1.0, 0.0], [0.2, 0.7, 0.1]])
    assert apply_threshold(certain, CLASSES, 1.0).tolist() == [NLP, OTHER]


def test_does_not_modify_the_probabilities():
    proba = PROBA.copy()
    apply_threshold(proba, CLASSES, 0.6)
    np.testing.assert_array_equal(proba, PROBA)


# --- tune_threshold -----------------------------------------------------------------------------


def test_tuning_finds_a_threshold_that_helps():
    # The two unsure predictions are wrong and their truth is `other`:
    y_true = np.array([NLP, CV, OTHER, OTHER])
    proba = np.array(
        [
            [0.10, 0.80, 0.10],  # nlp, right, 0.8
            [0.90, 0.05, 0.05],  # cv, right, 0.9
            [0.45, 0.40, 0.15],  # cv, wrong, 0.45
            [0.30, 0.50, 0.20],  # nlp, wrong, 0.5
        ]
    )
    # At 0: predictions [nlp, cv, cv, nlp]; nlp F1 2/3, cv F1 2/3, other F1 0 -> weighted (2/3+2/3)/4 = 1/3.
    # At 0.8: the rows at 0.45 and 0.5 become `other` -> all four right -> F1 1.
    # At 0.9: the nlp row at 0.8 becomes `other` too -> worse again.
    assert weighted_f1(y_true, apply_threshold(proba, CLASSES, 0.0)) == pytest.approx(1 / 3)
    threshold, f1 = tune_threshold(y_true, proba, CLASSES)
    assert threshold == pytest.approx(0.8)
    assert f1 == pytest.approx(1.0)
    assert apply_threshold(proba, CLASSES, threshold).tolist() == y_true.tolist()


def test_tuning_keeps_threshold_off_when_any_threshold_would_hurt():
    # Every prediction is right; the least confident one is 0.5.
    y_true = np.array([NLP, CV, NLP])
    proba = np.array([[0.3, 0.5, 0.2], [0.9, 0.05, 0.05], [0.2, 0.6, 0.2]])
    assert weighted_f1(y_true, apply_threshold(proba, CLASSES, 0.6)) < 1.0  # a threshold would hurt
    assert tune_threshold(y_true, proba, CLASSES) == (0.0, pytest.approx(1.0))


def test_tuning_returns_zero_on_ties():
    # Threshold 0.5 changes nothing (no row is below it): its F1 ties with 0, and 0 must win.
    y_true = np.array([NLP, CV])
    proba = np.array([[0.3, 0.5, 0.2], [0.6, 0.3, 0.1]])
    assert weighted_f1(y_true, apply_threshold(proba, CLASSES, 0.5)) == weighted_f1(
        y_true, apply_threshold(proba, CLASSES, 0.0)
    )
    threshold, _ = tune_threshold(y_true, proba, CLASSES)
    assert threshold == 0.0


@pytest.mark.parametrize("seed", range(10))
def test_tuning_never_lowers_f1(seed):
    rng = np.random.default_rng(seed)
    n = 60
    y_true = rng.choice(CLASSES, n, p=[0.4, 0.4, 0.2])
    proba = rng.dirichlet(np.ones(len(CLASSES)), n)
    threshold, f1 = tune_threshold(y_true, proba, CLASSES)
    baseline = weighted_f1(y_true, apply_threshold(proba, CLASSES, 0.0))
    assert f1 >= baseline
    assert 0.0 <= threshold <= 1.0
    # the F1 reported is the F1 one gets with the threshold returned
    assert f1 == pytest.approx(weighted_f1(y_true, apply_threshold(proba, CLASSES, threshold)))
