"""Repeated stratified cross-validation of the whole training procedure, on train + validation only.

Each fold re-runs what `tagifai train` does: the fold's training part is split into train / validation
exactly as `split_data` splits the data, `fit_model` fits and tunes the threshold there, and the fold's
held-out part is scored with that threshold. The test split is set aside first and never touched, so the
test split stays a once-only check of the final model.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split
from threadpoolctl import threadpool_limits

from tagifai.args import TrainArgs
from tagifai.calibration import expected_calibration_error
from tagifai.predict import tag_confidence
from tagifai.profile import TextStats, build_profile, text_stats
from tagifai.split import split_data
from tagifai.threshold import apply_threshold
from tagifai.train import fit_model, prepare

# Called after each fold with (fold index from 0, that fold's weighted F1); may raise to stop early.
FoldCallback = Callable[[int, float], None]

N_SPLITS = 5
N_REPEATS = 2
# Folds are fitted in worker processes, one per core: a fold is seconds of single-threaded scikit-learn and
# pure-Python text processing, so processes (not threads) are what use a second core. Forked, not spawned: a fork
# starts in milliseconds with this process's modules and caches, and a spawned worker would import `tagifai`
# afresh from sys.path, where a loaded MLflow model puts its own copy of the code (without data/embeddings/).
N_JOBS = -1
_THREAD_LIMITS = None  # a fold worker's BLAS / OpenMP limit (_one_thread)


PROFILE_SOURCE = "out-of-fold cross-validation predictions"
PROBA_PREFIX = "p_"  # CVResult.predictions' probability columns: p_<class>


@dataclass(frozen=True, eq=False)
class CVResult:
    scores: tuple[float, ...]
    n_splits: int
    n_repeats: int
    seed: int
    # One row per (repeat, held-out project): id, text, label, predicted (thresholded), confidence (of the predicted
    # tag, as predict reports it), p_<class> (the fold model's calibrated probabilities), text_chars, text_words,
    # oov_share (against the fold model's vocabulary: tagifai.profile.text_stats), fold, repeat.
    predictions: pd.DataFrame | None = None

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))

    @property
    def classes(self) -> list[str]:
        return [c[len(PROBA_PREFIX):] for c in self.predictions.columns if c.startswith(PROBA_PREFIX)]

    def probabilities(self) -> np.ndarray:
        """(rows x classes) as `predictions`' p_<class> columns hold them."""
        return self.predictions[[PROBA_PREFIX + c for c in self.classes]].to_numpy()

    @property
    def ece(self) -> float:
        """Expected calibration error (10 bins) of every held-out prediction of every repeat, pooled: ~100 rows
        per fold are too few for a 10-bin estimate on their own (its upward bias shrinks with the rows)."""
        return expected_calibration_error(self.predictions["label"], self.probabilities(), self.classes)

    def first_repeat(self) -> pd.DataFrame:
        """Each development project once: its held-out prediction in the first repeat."""
        return self.predictions[self.predictions["repeat"] == 0]

    def reference_profile(self) -> dict:
        """The run's reference profile (tagifai.profile) from the first repeat's held-out predictions: what the
        procedure's models predicted, and how sure they were, on projects they had not seen."""
        rows = self.first_repeat()
        stats = [TextStats(int(c), int(w), None if pd.isna(o) else float(o))
                 for c, w, o in zip(rows["text_chars"], rows["text_words"], rows["oov_share"])]
        return build_profile(rows["predicted"].tolist(), rows["confidence"].tolist(), stats, self.classes,
                             source=PROFILE_SOURCE)

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
    `seed` picks the fold assignment (default: args.seed); `n_jobs` worker processes fit the folds (-1: one per
    core; 1: in this process).
    """
    data = prepared if prepared is not None else prepare(df, args)[0]
    dev = development_set(data, args)
    seed = args.seed if seed is None else seed
    rel_val = args.val_size / (1 - args.test_size)
    folds = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    scores, predictions = [], []
    tasks = [(dev.iloc[fit_idx], dev.iloc[held_idx], args, rel_val)
             for fit_idx, held_idx in folds.split(dev, dev["label"])]
    with closing(_fold_results(tasks, n_jobs)) as results:  # closed at once if on_fold stops early
        for i, (score, held) in enumerate(results):
            scores.append(score)
            predictions.append(held.assign(fold=i, repeat=i // n_splits))
            if on_fold:
                on_fold(i, score)
    return CVResult(tuple(scores), n_splits, n_repeats, seed, pd.concat(predictions, ignore_index=True))


def _fold_results(tasks: list[tuple], n_jobs: int) -> Iterator[tuple[float, pd.DataFrame]]:
    """`_score_fold` of each task, in order; folds not yet started are cancelled when the caller stops early."""
    workers = min(len(tasks), len(os.sched_getaffinity(0)) if n_jobs < 0 else n_jobs)
    if workers <= 1:
        yield from (_score_fold(*task) for task in tasks)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_one_thread)
    try:
        futures = [pool.submit(_score_fold, *task) for task in tasks]
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _one_thread() -> None:
    """In a fold worker: BLAS and OpenMP use one thread. A fork inherits one per core, and N workers x N threads
    on N cores spend most of their time waiting for each other (a 30-trial search took 11.7 min instead of 6.5)."""
    global _THREAD_LIMITS
    _THREAD_LIMITS = threadpool_limits(limits=1)  # kept: the limit lasts as long as this object


def _score_fold(fold_train: pd.DataFrame, held: pd.DataFrame, args: TrainArgs,
                rel_val: float) -> tuple[float, pd.DataFrame]:
    """One fold: split its training part as `split_data` would, fit, threshold, score the held-out part."""
    train, val = train_test_split(fold_train, test_size=rel_val, stratify=fold_train["label"],
                                  random_state=args.seed)
    predictor = fit_model(train, val, args).predictor
    proba = predictor.pipeline.predict_proba(held["clean"])
    names = predictor.classes.tolist()
    pred = apply_threshold(proba, predictor.classes, predictor.threshold)
    score = float(f1_score(held["label"], pred, average="weighted", zero_division=0))
    vocabulary = predictor.vocabulary  # this fold's model: words of the held-out texts it never trained on count
    stats = [text_stats(text, clean, vocabulary) for text, clean in zip(held["text"], held["clean"])]
    out = held[["id", "text", "label"]].assign(predicted=pred, confidence=tag_confidence(proba, names, pred))
    out = out.assign(**{PROBA_PREFIX + name: proba[:, i] for i, name in enumerate(names)})
    return score, out.assign(text_chars=[s.chars for s in stats], text_words=[s.words for s in stats],
                             oov_share=[s.oov_share for s in stats])
