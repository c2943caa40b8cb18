"""Predict cost of a model relative to the original design's, measured side by side (limit: MAX_COST_RATIO).

The original design is char_wb (2,5) TF-IDF + SGD (log loss, oversampling). `relative_cost` times
`Predictor.predict_proba` (what a served model runs per request: cleaning, features, classifier) on the same
batch of texts for both models, interleaved so that machine load hits both alike, and returns the median of
the per-round ratios. `make bench-model` reports the same ratio in full (docs/bench_model.md); the search
(tagifai.search) uses it as a constraint.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import replace

from tagifai.args import TrainArgs

MAX_COST_RATIO = 1.5
ORIGINAL = TrainArgs(analyzer="char_wb", char_ngram_min=2, ngram_max_range=5, sublinear_tf=False, min_df=1,
                     max_df=1.0, stem=False, classifier="sgd", loss="log_loss", alpha=1e-4,
                     class_balance="oversample", tune_threshold=False)


def original_args(like: TrainArgs) -> TrainArgs:
    """The original design, on the same data settings (seed, split sizes, label mapping) as `like`."""
    return replace(ORIGINAL, seed=like.seed, val_size=like.val_size, test_size=like.test_size,
                   min_freq=like.min_freq)


def relative_cost(predictor, reference, texts: Sequence[str], rounds: int = 5) -> float:
    """Median over rounds of (predictor's time / reference's time) for one predict_proba call on `texts`."""
    texts = list(texts)
    predictor.predict_proba(texts)  # warm-up: compiles the fast path, fills the per-word caches
    reference.predict_proba(texts)
    ratios = []
    for _ in range(rounds):
        ratios.append(_seconds(predictor, texts) / _seconds(reference, texts))
    return statistics.median(ratios)


def _seconds(predictor, texts: list[str]) -> float:
    start = time.perf_counter()
    predictor.predict_proba(texts)
    return time.perf_counter() - start
