"""Fit the model: label mapping, split, features, classifier, threshold, evaluation. No MLflow here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import f1_score, log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.class_weight import compute_class_weight

from tagifai.args import THRESHOLD_FOLDS, TrainArgs
from tagifai.calibrated import SigmoidCalibratedLinear
from tagifai.calibration import TemperatureScaled, apply_temperature, fit_temperature
from tagifai.config import OTHER_TAG
from tagifai.evaluate import evaluate
from tagifai.features import build_vectorizer
from tagifai.nbsvm import NBSVMClassifier
from tagifai.predict import Predictor
from tagifai.preprocess import apply_mapping, clean_texts, label_mapping
from tagifai.split import Splits, split_data
from tagifai.threshold import apply_threshold, tune_threshold

# Called after each epoch with (epoch, {"train_loss": ..., "val_loss": ..., "val_f1": ...}).
EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class FitResult:
    predictor: Predictor
    mapping: dict[str, str]
    splits: Splits
    val_f1: float
    val_f1_unthresholded: float
    performance: dict
    test_pred: np.ndarray


def prepare(df: pd.DataFrame, args: TrainArgs) -> tuple[pd.DataFrame, dict[str, str]]:
    """Add `label` (mapped tag) and `clean` (cleaned text) columns."""
    mapping = label_mapping(df["tag"].tolist(), min_freq=args.min_freq)
    out = df.assign(label=apply_mapping(df["tag"], mapping))
    out["clean"] = clean_texts(out["text"], lower=args.lower, stem=args.stem_when_cleaning)
    return out, mapping


def oversample(X, y: np.ndarray, seed: int):
    """Random oversampling of every class up to the majority class count."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    idx = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), counts.max(), replace=n < counts.max()) for c, n in zip(classes, counts)]
    )
    return X[idx], y[idx]


def _sample_weights(y: np.ndarray, args: TrainArgs) -> np.ndarray | None:
    if args.class_balance != "weights":
        return None
    classes = np.unique(y)
    weights = dict(zip(classes, compute_class_weight("balanced", classes=classes, y=y)))
    return np.array([weights[label] for label in y])


def _fit_sgd(X, y, X_val, y_val, args: TrainArgs, on_epoch: EpochCallback | None) -> SGDClassifier:
    """Epoch by epoch, so progress and loss curves can be shown and logged."""
    clf = SGDClassifier(
        loss=args.loss, alpha=args.alpha, learning_rate=args.learning_rate, eta0=args.eta0, random_state=args.seed
    )
    classes = np.unique(y)
    weights = _sample_weights(y, args)
    rng = np.random.default_rng(args.seed)
    for epoch in range(1, args.num_epochs + 1):
        order = rng.permutation(len(y))
        clf.partial_fit(X[order], y[order], classes=classes, sample_weight=None if weights is None else weights[order])
        if on_epoch:
            on_epoch(epoch, _epoch_metrics(clf, X, y, X_val, y_val))
    return clf


def _epoch_metrics(clf, X, y, X_val, y_val) -> dict[str, float]:
    proba_train, proba_val = clf.predict_proba(X), clf.predict_proba(X_val)
    return {
        "train_loss": float(log_loss(y, proba_train, labels=clf.classes_)),
        "val_loss": float(log_loss(y_val, proba_val, labels=clf.classes_)),
        "val_f1_epoch": float(f1_score(y_val, clf.classes_[proba_val.argmax(1)], average="weighted")),
    }


def _calibrated(estimator, X, y, args: TrainArgs):
    """Sigmoid calibration on internal folds (one model kept, ensemble=False), in its compact form for prediction
    (tagifai.calibrated: the same probabilities without scikit-learn's per-call overhead)."""
    clf = CalibratedClassifierCV(estimator, method="sigmoid", cv=3, ensemble=False)
    clf.fit(X, y, sample_weight=_sample_weights(y, args))
    unclaimed_to = OTHER_TAG if args.unclaimed_to_other > 0 else None
    return SigmoidCalibratedLinear.from_calibrated(clf, unclaimed_to, args.unclaimed_to_other) or clf


def _fit_svm(X, y, args: TrainArgs):
    """Linear SVM with calibrated probabilities."""
    return _calibrated(LinearSVC(C=1.0 / (args.alpha * X.shape[0]), random_state=args.seed), X, y, args)


def _fit_nbsvm(X, y, args: TrainArgs, n_dense: int):
    """NB-SVM (naive-Bayes-scaled linear SVM, folded into one linear model); probabilities as for `svm`."""
    nbsvm = NBSVMClassifier(C=1.0 / (args.alpha * X.shape[0]), n_dense=n_dense, random_state=args.seed)
    return _calibrated(nbsvm, X, y, args)


def _fit_logreg(X, y, args: TrainArgs) -> LogisticRegression:
    # alpha is the regularisation strength in SGD's parametrisation; C is its inverse per sample.
    clf = LogisticRegression(C=1.0 / (args.alpha * X.shape[0]), max_iter=2000, random_state=args.seed)
    return clf.fit(X, y, sample_weight=_sample_weights(y, args))


@dataclass
class FittedModel:
    predictor: Predictor
    val_f1: float  # with the tuned threshold
    val_f1_unthresholded: float


def _fit_pipeline(
    train: pd.DataFrame, args: TrainArgs, val: pd.DataFrame | None = None, on_epoch: EpochCallback | None = None
) -> Pipeline:
    """Features + classifier fitted on `train` (prepared); `val` only feeds the per-epoch metrics."""
    vectorizer = build_vectorizer(args)
    X = vectorizer.fit_transform(train["clean"])
    y = train["label"].to_numpy()
    if args.class_balance == "oversample":
        X, y = oversample(X, y, args.seed)
    if args.classifier == "sgd":
        if val is not None:
            clf = _fit_sgd(X, y, vectorizer.transform(val["clean"]), val["label"].to_numpy(), args, on_epoch)
        else:
            clf = _fit_sgd(X, y, None, None, args, None)
    elif args.classifier == "svm":
        clf = _fit_svm(X, y, args)
    elif args.classifier == "nbsvm":
        clf = _fit_nbsvm(X, y, args, n_dense=getattr(vectorizer, "n_dense_", 0))
    else:
        clf = _fit_logreg(X, y, args)
    return Pipeline([("tfidf", vectorizer), ("clf", clf)])


def out_of_fold_proba(
    train: pd.DataFrame, args: TrainArgs, folds: int = THRESHOLD_FOLDS
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities for every row of `train` from a model that did not see it (stratified k-fold)."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=args.seed)
    proba, classes = None, None
    for fit_idx, held_idx in splitter.split(train, train["label"]):
        pipeline = _fit_pipeline(train.iloc[fit_idx], args)
        held = pipeline.predict_proba(train["clean"].iloc[held_idx])
        if proba is None:
            classes = pipeline.classes_
            proba = np.zeros((len(train), len(classes)))
        proba[held_idx] = held
    return proba, classes


def fit_model(
    train: pd.DataFrame, val: pd.DataFrame, args: TrainArgs, on_epoch: EpochCallback | None = None
) -> FittedModel:
    """Fit features + classifier on `train` (prepared), tune the threshold, score `val`.

    threshold_method `val` tunes the threshold on `val` (val_f1 is then the tuned, optimistic figure);
    `oof` tunes it on out-of-fold probabilities of `train`, so `val` stays an unseen check of it.
    Either way the threshold is at least `min_threshold`. With `refit_on_val`, the returned model is then
    refitted on `train` + `val` with the same arguments and threshold.
    """
    pipeline = _fit_pipeline(train, args, val, on_epoch)
    classes = pipeline.classes_
    proba_val, y_val = pipeline.predict_proba(val["clean"]), val["label"].to_numpy()
    # `val` is out-of-sample for this train-only fit: the temperature is fitted there (so each CV fold, which
    # re-runs fit_model, fits its own), and the threshold is then tuned on the calibrated probabilities it serves.
    temperature = fit_temperature(y_val, proba_val, classes) if args.calibration == "temperature" else 1.0
    proba_val = apply_temperature(proba_val, temperature)
    base_f1 = float(f1_score(y_val, classes[proba_val.argmax(1)], average="weighted", zero_division=0))
    if not args.tune_threshold:
        threshold, val_f1 = 0.0, base_f1
    elif args.threshold_method == "val":
        threshold, val_f1 = tune_threshold(y_val, proba_val, classes, minimum=args.min_threshold)
    else:
        oof, oof_classes = out_of_fold_proba(train, args)
        threshold, _ = tune_threshold(train["label"].to_numpy(), apply_temperature(oof, temperature), oof_classes,
                                      minimum=args.min_threshold)
        pred = apply_threshold(proba_val, classes, threshold)
        val_f1 = float(f1_score(y_val, pred, average="weighted", zero_division=0))
    if args.refit_on_val:
        # The refitted model keeps the train-only fit's temperature: nothing unseen is left to fit another on.
        pipeline = _fit_pipeline(pd.concat([train, val], ignore_index=True), args)
    predictor = Predictor(_calibrated_pipeline(pipeline, temperature), threshold, lower=args.lower,
                          stem=args.stem_when_cleaning)
    return FittedModel(predictor, val_f1, base_f1)


def _calibrated_pipeline(pipeline: Pipeline, temperature: float) -> Pipeline:
    """The pipeline with its classifier temperature-scaled (unchanged at T = 1, as models were before)."""
    if temperature == 1.0:
        return pipeline
    (name, vectorizer), (clf_name, clf) = pipeline.steps
    return Pipeline([(name, vectorizer), (clf_name, TemperatureScaled.around(clf, temperature))])


def fit(df: pd.DataFrame, args: TrainArgs, on_epoch: EpochCallback | None = None) -> FitResult:
    """Train on the train split, tune the threshold on validation, score the test split once."""
    data, mapping = prepare(df, args)
    splits = split_data(data, "label", val_size=args.val_size, test_size=args.test_size, seed=args.seed)
    fitted = fit_model(splits.train, splits.val, args, on_epoch)
    predictor = fitted.predictor
    test_pred = apply_threshold(predictor.pipeline.predict_proba(splits.test["clean"]), predictor.classes,
                                predictor.threshold)
    performance = evaluate(splits.test, test_pred, predictor.classes.tolist())
    return FitResult(predictor, mapping, splits, fitted.val_f1, fitted.val_f1_unthresholded, performance, test_pred)
