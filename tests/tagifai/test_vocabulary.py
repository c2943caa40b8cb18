"""The words a model knows (tagifai.vocabulary) and Predictor.text_stats, which the inference log records for every
scored row: tiny fits here (fast suite); the shipped configuration and a char-only one are trained in
test_calibration_training.py."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tagifai.args import TrainArgs
from tagifai.features import build_tfidf
from tagifai.predict import Predictor
from tagifai.preprocess import clean_texts
from tagifai.profile import TextStats
from tagifai.vocabulary import embedding_words

TEXTS = ["Neural machine translation of text", "Image segmentation with a UNet", "Serving models with Docker",
         "Sentiment of tweets", "Object detection in video", "Monitoring deployed models"] * 2
LABELS = ["nlp", "cv", "mlops", "nlp", "cv", "mlops"] * 2


def predictor_for(**args) -> Predictor:
    train_args = TrainArgs(**args)
    pipeline = Pipeline([("tfidf", build_tfidf(train_args)), ("clf", LogisticRegression(max_iter=300))])
    return Predictor(pipeline.fit(clean_texts(TEXTS), LABELS), threshold=0.0)


def test_a_word_model_knows_its_training_unigrams_in_their_cleaned_form():
    predictor = predictor_for(analyzer="word", word_ngram_max=2)
    vocabulary = predictor.vocabulary
    assert isinstance(vocabulary, frozenset)
    assert {"neural", "translation", "unet", "docker"} <= vocabulary
    assert "machine translation" not in vocabulary  # bigrams are features, not words
    assert not {"of", "with", "Docker"} & vocabulary  # stopwords are cleaned away, words lowercased
    assert predictor.vocabulary is vocabulary  # derived once


def test_text_stats_measure_the_text_as_sent_and_its_cleaned_words_against_the_vocabulary():
    predictor = predictor_for(analyzer="union", word_ngram_max=1)
    stats = predictor.text_stats(["Translation of tweets about pizza!", "   the of and   "])
    # "translation tweets pizza": pizza is unknown; a text cleaned to nothing has share 0.
    assert stats == [TextStats(chars=34, words=5, oov_share=pytest.approx(1 / 3)), TextStats(16, 3, 0.0)]


def test_a_char_ngram_model_has_no_vocabulary_and_reports_no_share():
    predictor = predictor_for(analyzer="char_wb")
    assert predictor.vocabulary is None
    assert predictor.text_stats(["Object detection"]) == [TextStats(chars=16, words=2, oov_share=None)]


def test_embedding_words_are_whole_lowercase_alphanumeric_tokens():
    tokens = ["[UNK]", "[CLS]", "the", "##ing", "transformer", "café", "!", "GPU", "3d"]
    assert embedding_words(tokens) == {"the", "transformer", "3d"}

