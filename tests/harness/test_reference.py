"""harness.reference: the plain pipeline's answer, on a small pipeline the fast path does not compile (so the
Predictor's own answer is the same computation)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from harness.reference import mismatch, reference_answer, reference_predictions, reference_proba
from tagifai.predict import Predictor
from tagifai.preprocess import clean_texts

TEXTS = ["Transfer learning with transformers for text", "BERT language model for text classification",
         "Generative adversarial networks for images", "Convolutional networks for image segmentation",
         "Reinforcement learning agents in games", "Graph neural networks for molecules"]
TAGS = ["nlp", "nlp", "cv", "cv", "other", "other"]


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    pipeline = Pipeline([("count", CountVectorizer()), ("clf", LogisticRegression())])
    return Predictor(pipeline.fit(clean_texts(TEXTS), TAGS), threshold=0.0)


def test_reference_is_the_pipeline_on_cleaned_text(predictor):
    texts = ["Transformers for TEXT!", "images, with GANs"]
    assert np.array_equal(reference_proba(predictor, texts), predictor.pipeline.predict_proba(clean_texts(texts)))


def test_reference_rows_are_what_the_predictor_answers(predictor):
    texts = TEXTS[:3] + ["something else entirely"]
    for threshold in (None, 0.0, 0.99):
        rows = reference_predictions(predictor, texts, threshold)
        answer = predictor.predict(texts, threshold)
        assert [r["predicted_tag"] for r in rows] == answer["predicted_tag"]
        assert np.allclose([r["confidence"] for r in rows], answer["confidence"], rtol=0, atol=1e-12)
        for got, want in zip(rows, answer["probabilities"]):
            assert got["probabilities"] == pytest.approx(want, abs=1e-12)
    assert {r["predicted_tag"] for r in reference_predictions(predictor, texts, 0.99)} == {"other"}


def test_reference_answer_columns(predictor):
    answer = reference_answer(predictor, TEXTS)
    assert answer["names"] == ["cv", "nlp", "other"]
    assert answer["proba"].shape == (len(TEXTS), 3)
    assert len(answer["tags"]) == len(answer["confidence"]) == len(TEXTS)


def test_mismatch_names_what_differs(predictor):
    texts = TEXTS[:2]
    want = reference_predictions(predictor, texts)
    served = [{"input_text": t, **row} for t, row in zip(texts, want)]
    assert mismatch(served, want, texts) is None
    assert mismatch(served[:1], want) == "1 rows for 2 texts"
    assert mismatch(served, want, ["other text", texts[1]]).startswith("row 0: input_text")
    wrong_tag = [served[0], {**served[1], "predicted_tag": "nope"}]
    assert mismatch(wrong_tag, want).startswith("row 1: got 'nope'")
    off = {tag: p + 1e-6 for tag, p in served[0]["probabilities"].items()}
    assert mismatch([{**served[0], "probabilities": off}, served[1]], want) == "row 0: probabilities differ"
    assert mismatch([{**served[0], "probabilities": off}, served[1]], want, tolerance=1e-3) is None
    assert mismatch([{**served[0], "confidence": float("nan")}, served[1]], want).startswith("row 0: confidence")
