"""Prediction: validate texts, clean them exactly as in training, classify, apply the threshold."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from tagifai.errors import InvalidInputError
from tagifai.fastpath import Agreement, FastPipeline, agreement
from tagifai.preprocess import clean_text, clean_texts, clear_stem_cache
from tagifai.profile import TextStats, text_stats
from tagifai.threshold import apply_threshold
from tagifai.vocabulary import known_words

DERIVED = ("_fast", "_vocabulary")  # Predictor._derived keys: rebuilt after unpickling
EMPTY_INPUT_MESSAGE = "List of texts to classify cannot be empty."
TEXT_COLUMN = "text"


def texts_from_input(model_input: Any) -> list:
    """The `text` values of a table (DataFrame), a dict of columns, records, or a plain list; not yet validated."""
    if isinstance(model_input, pd.DataFrame):
        if TEXT_COLUMN in model_input.columns:
            return model_input[TEXT_COLUMN].tolist()
        if len(model_input) == 0:
            # `{"dataframe_records": []}` parses to a frame with no columns at all; MLflow's schema
            # enforcement also leaves one when it drops unknown columns (and their rows) in-process.
            raise InvalidInputError(f"{EMPTY_INPUT_MESSAGE} The input has no rows with a '{TEXT_COLUMN}' column.")
        columns = ", ".join(map(str, model_input.columns))[:200]
        raise InvalidInputError(f"input has no '{TEXT_COLUMN}' column (columns: {columns})")
    if isinstance(model_input, pd.Series):
        return model_input.tolist()
    if isinstance(model_input, dict):
        if TEXT_COLUMN not in model_input:
            raise InvalidInputError(f"input has no '{TEXT_COLUMN}' field")
        return _as_list(model_input[TEXT_COLUMN])
    values = _as_list(model_input)
    if values and all(isinstance(v, dict) for v in values):  # records: [{"text": ...}, ...]
        return [_as_scalar(v.get(TEXT_COLUMN)) for v in values]
    return values


def _as_scalar(value: Any) -> Any:
    """MLflow's `inputs` parser wraps each record's value in a 0-d numpy array."""
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _as_list(value: Any) -> list:
    if isinstance(value, np.ndarray):
        return [value.item()] if value.ndim == 0 else value.tolist()
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]  # a single text (or a single bad value, which validation will name)


def validate_texts(texts: Sequence[Any]) -> list[str]:
    """Every text must be a non-blank string; the error names the first bad row and the rule."""
    if len(texts) == 0:
        raise InvalidInputError(EMPTY_INPUT_MESSAGE)
    for i, text in enumerate(texts):
        if text is None or (isinstance(text, float) and math.isnan(text)):
            raise InvalidInputError(f"row {i}: field 'text' is missing (null); every row needs a text")
        if not isinstance(text, str):
            raise InvalidInputError(f"row {i}: field 'text' must be a string, got {type(text).__name__}")
        if not text.strip():
            raise InvalidInputError(f"row {i}: field 'text' is empty or whitespace-only")
    return list(texts)


def validate_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidInputError(f"param 'threshold' must be a number between 0 and 1, got {value!r}")
    return float(value)


@dataclass
class Predictor:
    """The trained pipeline plus what it needs around it: cleaning options and the tuned threshold."""

    pipeline: Pipeline
    threshold: float
    lower: bool = True
    stem: bool = False
    # Serve through tagifai.fastpath (the same numbers, faster). Training turns it off before the model is logged
    # when the fast path does not agree with the plain pipeline on the run's texts (check_fast_path).
    use_fast_path: bool = True

    @property
    def stems(self) -> bool:
        """Whether predicting stems words (when cleaning, or in the features): then it needs nltk."""
        return self.stem or bool(getattr(self.pipeline.steps[0][1], "stem", False))

    @property
    def classes(self) -> np.ndarray:
        return self.pipeline.classes_

    @property
    def temperature(self) -> float:
        """The calibration temperature of its probabilities (tagifai.calibration); 1 for a model trained without
        calibration, or pickled before there was one."""
        return float(getattr(self.pipeline.steps[-1][1], "temperature", 1.0))

    @property
    def vocabulary(self) -> frozenset[str] | None:
        """The words the model knows, in the form predict cleans them to (tagifai.vocabulary.known_words), or None
        when its features hold no words (char n-grams only). Derived once per pipeline object; never pickled."""
        return self._derived("_vocabulary", known_words)

    def text_stats(self, texts: Sequence[str]) -> list[TextStats]:
        """Length and out-of-vocabulary share of each text, its words cleaned exactly as predict cleans them."""
        vocabulary = self.vocabulary
        return [text_stats(text, clean_text(text, lower=self.lower, stem=self.stem), vocabulary) for text in texts]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities of the cleaned texts: equal to `pipeline.predict_proba`, computed faster where
        tagifai.fastpath knows the pipeline's steps."""
        cleaned = clean_texts(texts, lower=self.lower, stem=self.stem)
        fast = self._fast_pipeline()
        return self.pipeline.predict_proba(cleaned) if fast is None else fast.predict_proba(cleaned)

    def predict(self, texts: Sequence[Any], threshold: float | None = None) -> dict[str, list]:
        """Columns input_text, predicted_tag, confidence, probabilities (tag -> probability)."""
        texts, tags, confidence, names, proba = self._score(texts, threshold)
        return {
            "input_text": texts,
            "predicted_tag": tags,
            "confidence": confidence,
            "probabilities": [dict(zip(names, row)) for row in proba],
        }

    def predict_records(self, texts: Sequence[Any], threshold: float | None = None) -> list[dict]:
        """The same answer as `predict`, one dict per row (what a JSON response holds, no table in between)."""
        texts, tags, confidence, names, proba = self._score(texts, threshold)
        return [
            {"input_text": text, "predicted_tag": tag, "confidence": conf, "probabilities": dict(zip(names, row))}
            for text, tag, conf, row in zip(texts, tags, confidence, proba)
        ]

    def _score(self, texts: Sequence[Any], threshold: float | None):
        texts = validate_texts(texts)
        threshold = self.threshold if threshold is None else validate_threshold(threshold)
        proba = self.predict_proba(texts)
        classes = self.classes
        tags = apply_threshold(proba, classes, threshold)
        names = classes.tolist()
        return texts, tags.tolist(), tag_confidence(proba, names, tags).tolist(), names, proba.tolist()

    def clear_caches(self) -> None:
        """Forget every word seen: stems, and the fast path's per-word n-gram and token ids (for cold timings).
        Predictions are unchanged."""
        clear_stem_cache()
        fast = self.compiled_fast_pipeline()
        if fast is not None:
            fast.clear_caches()
        embedding = getattr(self.pipeline.steps[0][1], "embedding", None)
        if embedding is not None:
            embedding.clear_cache()  # token ids, for both paths

    def check_fast_path(self, texts: Sequence[str]) -> Agreement:
        """Compare the fast path with the plain pipeline on `texts`; if they differ, serve the plain pipeline
        from now on (`use_fast_path = False`, pickled with the predictor)."""
        check = agreement(self, texts)
        if not check.agrees:
            self.use_fast_path = False
        return check

    def _fast_pipeline(self) -> FastPipeline | None:
        """The fast path that serves: None when it is off or the pipeline is not one it knows."""
        return self.compiled_fast_pipeline() if self.use_fast_path else None

    def compiled_fast_pipeline(self) -> FastPipeline | None:
        """Compiled once per pipeline object (and again if `pipeline` is replaced); never pickled."""
        return self._derived("_fast", FastPipeline.compile)

    def _derived(self, key: str, build):
        """build(pipeline), kept under `key` until `pipeline` is replaced; never pickled (__getstate__)."""
        cached = self.__dict__.get(key)
        if cached is None or cached[0] is not self.pipeline:
            cached = self.__dict__[key] = (self.pipeline, build(self.pipeline))
        return cached[1]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for key in DERIVED:
            state.pop(key, None)
        return state


def tag_confidence(proba: np.ndarray, names: list[str], tags: np.ndarray) -> np.ndarray:
    """Probability of the tag actually predicted (after a fallback to `other`, that of `other`)."""
    index = {name: i for i, name in enumerate(names)}
    cols = np.array([index.get(t, -1) for t in tags])
    picked = proba[np.arange(len(proba)), np.maximum(cols, 0)]
    return np.where(cols >= 0, picked, 0.0)
