"""Fit the model: label mapping, split, features, classifier, threshold, evaluation. No MLflow here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import f1_score, log_loss
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.class_weight import compute_class_weight

from tagifai.args import TrainArgs
from tagifai.evaluate import evaluate
from tagifai.features import build_vectorizer
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
    out["clean"] = clean_texts(out["text"], lower=args.lower, stem=args.stem)
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


def _fit_svm(X, y, args: TrainArgs) -> CalibratedClassifierCV:
    """Linear SVM; probabilities from sigmoid calibration on internal folds (one model kept, ensemble=False)."""
    svm = LinearSVC(C=1.0 / (args.alpha * X.shape[0]), random_state=args.seed)
    clf = CalibratedClassifierCV(svm, method="sigmoid", cv=3, ensemble=False)
    return clf.fit(X, y, sample_weight=_sample_weights(y, args))


def _fit_logreg(X, y, args: TrainArgs) -> LogisticRegression:
    # alpha is the regularisation strength in SGD's parametrisation; C is its inverse per sample.
    clf = LogisticRegression(C=1.0 / (args.alpha * X.shape[0]), max_iter=2000, random_state=args.seed)
    return clf.fit(X, y, sample_weight=_sample_weights(y, args))


@dataclass
class FittedModel:
    predictor: Predictor
    val_f1: float  # with the tuned threshold
    val_f1_unthresholded: float


def fit_model(
    train: pd.DataFrame, val: pd.DataFrame, args: TrainArgs, on_epoch: EpochCallback | None = None
) -> FittedModel:
    """Fit features + classifier on `train` (prepared), tune the threshold on `val`."""
    vectorizer = build_vectorizer(args)
    X = vectorizer.fit_transform(train["clean"])
    y = train["label"].to_numpy()
    if args.class_balance == "oversample":
        X, y = oversample(X, y, args.seed)
    X_val, y_val = vectorizer.transform(val["clean"]), val["label"].to_numpy()
    if args.classifier == "sgd":
        clf = _fit_sgd(X, y, X_val, y_val, args, on_epoch)
    elif args.classifier == "svm":
        clf = _fit_svm(X, y, args)
    else:
        clf = _fit_logreg(X, y, args)
    proba_val = clf.predict_proba(X_val)
    base_f1 = float(f1_score(y_val, clf.classes_[proba_val.argmax(1)], average="weighted", zero_division=0))
    threshold, val_f1 = tune_threshold(y_val, proba_val, clf.classes_) if args.tune_threshold else (0.0, base_f1)
    pipeline = Pipeline([("tfidf", vectorizer), ("clf", clf)])
    return FittedModel(Predictor(pipeline, threshold, lower=args.lower, stem=args.stem), val_f1, base_f1)


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
