"""The reference prediction: what the plain scikit-learn pipeline of a trained Predictor answers (cleaning as in
training, predict_proba, the threshold; no fast path, no cache, no MLflow), and the check of served answers
against it. `mismatch` needs no scikit-learn: the load generator imports it (tagifai is imported on first use)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from tagifai.predict import Predictor

TOLERANCE = 1e-9


def reference_proba(predictor: Predictor, texts: Sequence[str]) -> np.ndarray:
    """The pipeline's probabilities for the texts cleaned with the predictor's own options."""
    from tagifai.preprocess import clean_texts

    return predictor.pipeline.predict_proba(clean_texts(texts, lower=predictor.lower, stem=predictor.stem))


def reference_answer(predictor: Predictor, texts: Sequence[str], threshold: float | None = None) -> dict:
    """Columns: "tags", "confidence" (probability of the tag, 0 for `other` when it is no class), "proba" (rows x
    classes), "names" (the classes). `threshold`: the predictor's own if None."""
    from tagifai.threshold import apply_threshold

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


def mismatch(rows: Sequence[dict], expected: Sequence[dict], texts: Sequence[str] | None = None,
             tolerance: float = TOLERANCE) -> str | None:
    """None if served `rows` are the `expected` reference rows (same tag; confidence and every probability within
    `tolerance`; `input_text` equal to `texts` when given), else what differs first."""
    if len(rows) != len(expected):
        return f"{len(rows)} rows for {len(expected)} texts"
    for i, (row, want) in enumerate(zip(rows, expected)):
        if texts is not None and row.get("input_text") != texts[i]:
            return f"row {i}: input_text {row.get('input_text')!r} != {texts[i]!r}"
        if row.get("predicted_tag") != want["predicted_tag"]:
            return f"row {i}: got {row.get('predicted_tag')!r}, expected {want['predicted_tag']!r}"
        if not abs(row.get("confidence", float("nan")) - want["confidence"]) <= tolerance:
            return f"row {i}: confidence {row.get('confidence')} != {want['confidence']}"
        got = row.get("probabilities") or {}
        if got.keys() != want["probabilities"].keys() or any(
            not abs(got[tag] - p) <= tolerance for tag, p in want["probabilities"].items()
        ):
            return f"row {i}: probabilities differ"
    return None
