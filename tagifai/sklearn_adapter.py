"""Every scikit-learn private attribute the project reads, in one place.

tagifai.fastpath replays a fitted TfidfVectorizer's transform and tagifai.calibrated reads a fitted
CalibratedClassifierCV's calibrators; both need names scikit-learn does not promise to keep (`_tfidf`,
`_white_spaces`, `_char_wb_ngrams`, the private `_CalibratedClassifier` / `_SigmoidCalibration` objects).
They are read here only. When one is missing or is not what this module knows, the functions raise
`MissingInternals`, and the callers fall back to scikit-learn's own public calls (the plain pipeline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from re import Pattern
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer


class MissingInternals(Exception):
    """A scikit-learn internal this module reads is missing or unknown (another scikit-learn version?)."""


def _private(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name)
    except AttributeError:
        raise MissingInternals(f"{type(obj).__name__}.{name} is missing") from None


@dataclass(frozen=True)
class TfidfInternals:
    """What TfidfVectorizer.transform uses: the fitted TfidfTransformer's settings and idf, and for char_wb the
    whitespace pattern and the per-word n-gram function scikit-learn applies."""

    sublinear_tf: bool
    idf: np.ndarray | None
    norm: str | None
    white_spaces: Pattern | None  # char_wb only
    word_ngrams: Callable[[str], list[str]] | None  # char_wb only


def tfidf_internals(vec: TfidfVectorizer) -> TfidfInternals:
    """The fitted internals of a TfidfVectorizer; MissingInternals if any is missing or of an unknown kind."""
    tfidf = _private(vec, "_tfidf")  # the fitted TfidfTransformer that transform() applies
    if type(tfidf) is not TfidfTransformer:
        raise MissingInternals(f"TfidfVectorizer._tfidf is a {type(tfidf).__name__}, not a TfidfTransformer")
    idf = None
    if tfidf.use_idf:
        idf = _private(tfidf, "idf_")
    white_spaces = word_ngrams = None
    if vec.analyzer == "char_wb":
        white_spaces = _private(vec, "_white_spaces")
        word_ngrams = _private(vec, "_char_wb_ngrams")
        if not hasattr(white_spaces, "sub") or not callable(word_ngrams):
            raise MissingInternals("TfidfVectorizer's char_wb helpers are not the ones this module knows")
    return TfidfInternals(tfidf.sublinear_tf, idf, tfidf.norm, white_spaces, word_ngrams)


@dataclass(frozen=True)
class SigmoidCalibration:
    """The single model of CalibratedClassifierCV(method="sigmoid", ensemble=False) and its per-class sigmoids."""

    estimator: Any
    a: np.ndarray
    b: np.ndarray


def sigmoid_calibration(clf) -> SigmoidCalibration:
    """MissingInternals unless `clf` holds exactly one calibrated model with one fitted sigmoid per score."""
    calibrated = getattr(clf, "calibrated_classifiers_", ())  # public, documented
    if len(calibrated) != 1:
        raise MissingInternals("not a single calibrated model (ensemble=True?)")
    estimator = _private(calibrated[0], "estimator")
    calibrators = _private(calibrated[0], "calibrators")
    a = np.array([_private(c, "a_") for c in calibrators], dtype=np.float64)
    b = np.array([_private(c, "b_") for c in calibrators], dtype=np.float64)
    return SigmoidCalibration(estimator, a, b)
