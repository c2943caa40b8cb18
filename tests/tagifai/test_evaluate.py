"""Performance overall, per class, on slices; and its flattening into MLflow metric names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagifai.evaluate import evaluate, flatten_metrics, nlp_cnn, short_text

NLP, CV, MLOPS, OTHER = "natural-language-processing", "computer-vision", "mlops", "other"
CLASSES = [CV, MLOPS, NLP, OTHER]

# (text, true label, predicted label); the comment gives the word count and the slices the row is in.
ROWS = [
    ("CNN for sentence classification with many many extra words here", NLP, NLP),  # 10 words, nlp_cnn
    ("Convolutional sequence to sequence learning", NLP, NLP),  # 5 words, nlp_cnn + short_text
    ("A long description of a transformer model for text with many words", NLP, NLP),  # 12 words, none
    ("CNN image classifier", CV, CV),  # 3 words, short_text (cv, so not nlp_cnn)
    ("Object detection with a very long description of many words in it", CV, NLP),  # 12 words, none
    ("Short one", OTHER, CV),  # 2 words, short_text
]


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame({"text": [r[0] for r in ROWS], "label": [r[1] for r in ROWS]})


@pytest.fixture
def y_pred() -> np.ndarray:
    return np.array([r[2] for r in ROWS])


@pytest.fixture
def performance(df, y_pred) -> dict:
    return evaluate(df, y_pred, CLASSES)


def test_overall_weighted_metrics_by_hand(performance):
    # Per class (true support; predicted count; true positives):
    #   nlp:   support 3, predicted 4 (rows 0,1,2,4), TP 3 -> P 3/4, R 1,   F1 = 2*(3/4)/(7/4) = 6/7
    #   cv:    support 2, predicted 2 (rows 3,5),     TP 1 -> P 1/2, R 1/2, F1 1/2
    #   other: support 1, predicted 0,                TP 0 -> P 0 (zero_division), R 0, F1 0
    # Weighted by support (6 rows):
    #   precision = (3*3/4 + 2*1/2 + 1*0) / 6 = 3.25/6 = 13/24
    #   recall    = (3*1   + 2*1/2 + 1*0) / 6 = 4/6    = 2/3  (= accuracy)
    #   f1        = (3*6/7 + 2*1/2 + 1*0) / 6 = (25/7)/6 = 25/42
    overall = performance["overall"]
    assert overall["precision"] == pytest.approx(13 / 24)
    assert overall["recall"] == pytest.approx(2 / 3)
    assert overall["f1"] == pytest.approx(25 / 42)
    assert overall["num_samples"] == 6


def test_per_class_metrics(performance):
    per_class = performance["class"]
    assert list(per_class) == CLASSES
    assert per_class[NLP] == pytest.approx({"precision": 0.75, "recall": 1.0, "f1": 6 / 7, "num_samples": 3})
    assert per_class[CV] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "num_samples": 2})
    assert per_class[OTHER] == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "num_samples": 1})
    # a class with no test rows is still reported, with zeros rather than an error
    assert per_class[MLOPS] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "num_samples": 0}


def test_slice_nlp_cnn_selects_nlp_rows_mentioning_convolutions(df):
    assert nlp_cnn(df.assign(label=[r[1] for r in ROWS])).tolist() == [True, True, False, False, False, False]


def test_slice_short_text_selects_fewer_than_eight_words(df):
    assert short_text(df).tolist() == [False, True, False, True, False, True]
    seven = pd.DataFrame({"text": ["one two three four five six seven", "one two three four five six seven eight"]})
    assert short_text(seven).tolist() == [True, False]


def test_slice_metrics(performance):
    # nlp_cnn = rows 0, 1: both nlp, both predicted nlp -> everything 1.
    assert performance["slices"]["nlp_cnn"] == pytest.approx(
        {"precision": 1.0, "recall": 1.0, "f1": 1.0, "num_samples": 2}
    )
    # short_text = rows 1, 3, 5: true [nlp, cv, other], predicted [nlp, cv, cv]
    #   nlp:   P 1,   R 1, F1 1
    #   cv:    P 1/2 (rows 3, 5 predicted cv, one right), R 1, F1 2/3
    #   other: P 0,   R 0, F1 0
    #   weighted (1 row each): P = 1.5/3 = 1/2, R = 2/3, F1 = (5/3)/3 = 5/9
    assert performance["slices"]["short_text"] == pytest.approx(
        {"precision": 0.5, "recall": 2 / 3, "f1": 5 / 9, "num_samples": 3}
    )


def test_empty_slice_has_zero_samples():
    df = pd.DataFrame({"text": ["A long text about vision with plenty of words in it"] * 2, "label": [CV, CV]})
    performance = evaluate(df, np.array([CV, NLP]), CLASSES)
    assert performance["slices"]["nlp_cnn"] == {"num_samples": 0}
    assert performance["slices"]["short_text"] == {"num_samples": 0}
    assert performance["overall"]["num_samples"] == 2


def test_flatten_metrics_names(performance):
    flat = flatten_metrics(performance)
    assert flat["f1"] == pytest.approx(25 / 42)
    assert flat["precision"] == pytest.approx(13 / 24)
    assert flat["num_samples"] == 6
    assert flat["class/natural-language-processing/f1"] == pytest.approx(6 / 7)
    assert flat["class/mlops/f1"] == 0.0
    assert flat["class/mlops/num_samples"] == 0
    assert flat["slices/short_text/f1"] == pytest.approx(5 / 9)
    assert flat["slices/nlp_cnn/recall"] == 1.0
    expected = {"precision", "recall", "f1", "num_samples"}
    expected |= {f"class/{c}/{m}" for c in CLASSES for m in ("precision", "recall", "f1", "num_samples")}
    expected |= {f"slices/{s}/{m}" for s in ("nlp_cnn", "short_text") for m in ("precision", "recall", "f1", "num_samples")}
    assert set(flat) == expected
    assert all(isinstance(v, (int, float)) for v in flat.values())
