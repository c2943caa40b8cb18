"""The reference prediction: what the plain scikit-learn pipeline of a trained Predictor answers (cleaning as in
training, predict_proba, the threshold; no fast path, no cache, no MLflow). Served answers are checked against it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tagifai.predict import Predictor
from tagifai.preprocess import clean_texts
from tagifai.threshold import apply_threshold


def reference_proba(predictor: Predictor, texts: Sequence[str]) -> np.ndarray:
    """The pipeline's probabilities for the texts cleaned with the predictor's own options."""
    return predictor.pipeline.predict_proba(clean_texts(texts, lower=predictor.lower, stem=predictor.stem))


def reference_answer(predictor: Predictor, texts: Sequence[str], threshold: float | None = None) -> dict:
    """Columns: "tags", "confidence" (probability of the tag, 0 for `other` when it is no class), "proba" (rows x
    classes), "names" (the classes). `threshold`: the predictor's own if None."""
    proba = reference_proba(predictor, texts)
    classes = predictor.pipeline.classes_
    names = classes.tolist()
    tags = apply_threshold(proba, classes, predictor.threshold if threshold is None else threshold).tolist()
    confidence = [float(row[names.index(t)]) if t in names else 0.0 for t, row in zip(tags, proba)]
    return {"tags": tags, "confidence": confidence, "proba": proba, "names": names}


def reference_predictions(predictor: Predictor, texts: Sequence[str], threshold: float | None = None) -> list[dict]:
    """One row per text as a server answers it: predicted_tag, confidence, probabilities (class -> probability)."""
    answer = reference_answer(predictor, texts, threshold)
    return [{"predicted_tag": tag, "confidence": conf, "probabilities": dict(zip(answer["names"], map(float, row)))}
            for tag, conf, row in zip(answer["tags"], answer["confidence"], answer["proba"])]
