"""Repeated stratified cross-validation of the whole training procedure, on train + validation only.

Each fold re-runs what `tagifai train` does: the fold's training part is split into train / validation
exactly as `split_data` splits the data, `fit_model` fits and tunes the threshold there, and the fold's
held-out part is scored with that threshold. The test split is set aside first and never touched, so the
test split stays a once-only check of the final model.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import f1_score
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from tagifai.args import TrainArgs
from tagifai.split import split_data
from tagifai.threshold import apply_threshold
from tagifai.train import fit_model, prepare

# Called after each fold with (fold index from 0, that fold's weighted F1); may raise to stop early.
FoldCallback = Callable[[int, float], None]

N_SPLITS = 5
N_REPEATS = 2
# Folds are fitted in worker processes, one per core: a fold is seconds of single-threaded scikit-learn and
# pure-Python text processing, so processes (not threads) are what use a second core.
N_JOBS = -1


@dataclass(frozen=True, eq=False)
class CVResult:
    scores: tuple[float, ...]
    n_splits: int
    n_repeats: int
    seed: int
    # One row per (repeat, held-out project): id, text, label, predicted (thresholded), fold, repeat.
    predictions: pd.DataFrame | None = None

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))

    def describe(self) -> str:
        return (f"repeated stratified {self.n_splits}-fold x{self.n_repeats} (fold seed {self.seed}) "
                f"on train+val: weighted F1 {self.mean:.4f} ± {self.std:.4f}")


def development_set(prepared: pd.DataFrame, args: TrainArgs) -> pd.DataFrame:
    """Train + validation of `split_data` for these args: everything except the test split."""
    splits = split_data(prepared, "label", val_size=args.val_size, test_size=args.test_size, seed=args.seed)
    return pd.concat([splits.train, splits.val], ignore_index=True)


def cross_validate(
    df: pd.DataFrame, args: TrainArgs, n_splits: int = N_SPLITS, n_repeats: int = N_REPEATS,
    seed: int | None = None, on_fold: FoldCallback | None = None, prepared: pd.DataFrame | None = None,
    n_jobs: int = N_JOBS,
) -> CVResult:
    """Weighted F1 of the training procedure on each held-out fold of train + val.

    `df` is the loaded data (`prepared`, if given, is `prepare(df, args)[0]`, to skip re-cleaning);
    `seed` picks the fold assignment (default: args.seed); `n_jobs` worker processes fit the folds (joblib's
    convention: -1 = one per core, 1 = in this process).
    """
    data = prepared if prepared is not None else prepare(df, args)[0]
    dev = development_set(data, args)
    seed = args.seed if seed is None else seed
    rel_val = args.val_size / (1 - args.test_size)
    folds = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    scores, predictions = [], []
    # Results come back in fold order as they finish, so `on_fold` can stop the rest (joblib cancels them).
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_score_fold)(dev.iloc[fit_idx], dev.iloc[held_idx], args, rel_val)
        for fit_idx, held_idx in folds.split(dev, dev["label"])
    )
    with warnings.catch_warnings():
        # Stopping early is the point of `on_fold` raising (pruning): no warning about the cancelled folds.
        warnings.filterwarnings("ignore", message=".*tasks which were still being processed.*")
        try:
            for i, (score, held) in enumerate(results):
                scores.append(score)
                predictions.append(held.assign(fold=i, repeat=i // n_splits))
                if on_fold:
                    on_fold(i, score)
        finally:
            results.close()
    return CVResult(tuple(scores), n_splits, n_repeats, seed, pd.concat(predictions, ignore_index=True))


def _score_fold(fold_train: pd.DataFrame, held: pd.DataFrame, args: TrainArgs,
                rel_val: float) -> tuple[float, pd.DataFrame]:
    """One fold: split its training part as `split_data` would, fit, threshold, score the held-out part."""
    train, val = train_test_split(fold_train, test_size=rel_val, stratify=fold_train["label"],
                                  random_state=args.seed)
    predictor = fit_model(train, val, args).predictor
    pred = apply_threshold(predictor.pipeline.predict_proba(held["clean"]), predictor.classes, predictor.threshold)
    score = float(f1_score(held["label"], pred, average="weighted", zero_division=0))
    return score, held[["id", "text", "label"]].assign(predicted=pred)
