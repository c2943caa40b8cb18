"""What a training run records beyond its test score, so a report or a gate needs nothing but the run:
cross-validation on train + val (mean ± std, per fold, slices and calibration error of the out-of-fold
predictions, the reference profile built from them), the test split's predictions and calibration, the data's
make-up, and the behavioural tests of the trained model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tagifai.args import TrainArgs
from tagifai.behaviour import BehaviourReport, for_predictor, run_behaviour
from tagifai.calibration import expected_calibration_error
from tagifai.crossval import N_REPEATS, N_SPLITS, CVResult, cross_validate
from tagifai.data import LoadReport
from tagifai.evaluate import evaluate, flatten_metrics
from tagifai.plots import reference_profile_figure
from tagifai.profile import PROFILE_ARTIFACT
from tagifai.train import FitResult

# The training run's CV uses other folds than the search (whose folds use the seed itself), so the figure it
# logs is not the very number the search maximised.
CV_SEED_OFFSET = 1

ARTIFACTS = {
    "cv": "cv_performance.json",
    "test_predictions": "test_predictions.csv",
    "data": "data_summary.json",
    "behaviour": "behaviour.json",
    "profile": PROFILE_ARTIFACT,
    "profile_plot": "reference_profile.png",
}


def test_predictions(result: FitResult) -> pd.DataFrame:
    """The test split as the model saw it: one row per project with label, prediction and probabilities."""
    test = result.splits.test
    proba = result.predictor.pipeline.predict_proba(test["clean"])
    classes = result.predictor.classes.tolist()
    frame = pd.DataFrame({
        "id": test["id"].to_numpy(), "text": test["text"].to_numpy(), "tag": test["tag"].to_numpy(),
        "label": test["label"].to_numpy(), "predicted": np.asarray(result.test_pred),
        "confidence": proba.max(axis=1),
    })
    for i, name in enumerate(classes):
        frame[f"p_{name}"] = proba[:, i]
    return frame


def test_calibration(frame: pd.DataFrame, classes: list[str]) -> dict[str, float]:
    """How far the test split's confidence is from its accuracy (test_predictions' frame): accuracy of the top
    tag, mean top probability (the monitor's accuracy estimate) and the expected calibration error."""
    proba = frame[[f"p_{name}" for name in classes]].to_numpy()
    accuracy = float((np.asarray(classes)[proba.argmax(axis=1)] == frame["label"].to_numpy()).mean())
    return {"test_accuracy": accuracy, "test_confidence_mean": float(proba.max(axis=1).mean()),
            "test_ece": expected_calibration_error(frame["label"], proba, classes)}


def data_summary(df: pd.DataFrame, result: FitResult, report: LoadReport) -> dict:
    splits = {name: getattr(result.splits, name) for name in ("train", "val", "test")}
    return {
        "rows_read": report.rows_read,
        "rows_dropped": report.dropped,
        "rows_used": int(len(df)),
        "raw_tags": {k: int(v) for k, v in df["tag"].value_counts().items()},
        "mapping": result.mapping,
        "labels": {name: {k: int(v) for k, v in part["label"].value_counts().items()} for name, part in splits.items()},
        "split_sizes": {name: int(len(part)) for name, part in splits.items()},
        "created_on": {"first": str(df["created_on"].min()), "last": str(df["created_on"].max())},
    }


def cv_performance(cv: CVResult, classes: list[str]) -> dict:
    """performance.json's shape, over every out-of-fold prediction of every repeat, plus the fold scores."""
    perf = evaluate(cv.predictions, cv.predictions["predicted"].to_numpy(), classes)
    perf["cv"] = {"scheme": cv.describe(), "f1_mean": cv.mean, "f1_std": cv.std, "fold_f1": list(cv.scores),
                  "ece": cv.ece, "n_splits": cv.n_splits, "n_repeats": cv.n_repeats, "seed": cv.seed}
    return perf


def _cv_with_progress(df: pd.DataFrame, args: TrainArgs, n_repeats: int, seed: int) -> CVResult:
    columns = (TextColumn("[bold]cross-validating"), BarColumn(), MofNCompleteColumn(), TextColumn("folds"),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("cv", total=N_SPLITS * n_repeats, status="")
        scores: list[float] = []

        def on_fold(i: int, score: float) -> None:
            scores.append(score)
            progress.update(task, completed=i + 1, status=f"f1={np.mean(scores):.4f}")

        return cross_validate(df, args, N_SPLITS, n_repeats, seed=seed, on_fold=on_fold)


def log_quality(df: pd.DataFrame, report: LoadReport, result: FitResult, args: TrainArgs,
                cv_repeats: int = N_REPEATS) -> tuple[CVResult | None, BehaviourReport]:
    """Log into the active run; `cv_repeats=0` skips the cross-validation."""
    classes = result.predictor.classes.tolist()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ARTIFACTS["test_predictions"]
        frame = test_predictions(result)
        frame.to_csv(path, index=False)
        mlflow.log_artifact(str(path))
    mlflow.log_metrics(test_calibration(frame, classes))
    mlflow.log_dict(data_summary(df, result, report), ARTIFACTS["data"])

    behaviour = run_behaviour(for_predictor(result.predictor))
    mlflow.log_dict(behaviour.to_dict(), ARTIFACTS["behaviour"])
    mlflow.log_metrics(behaviour.metrics())

    cv = None
    if cv_repeats > 0:
        cv = _cv_with_progress(df, args, cv_repeats, seed=args.seed + CV_SEED_OFFSET)
        perf = cv_performance(cv, classes)
        mlflow.log_dict(perf, ARTIFACTS["cv"])
        mlflow.log_metrics({"cv_f1_mean": cv.mean, "cv_f1_std": cv.std, "cv_ece": cv.ece})
        log_reference_profile(cv)
        for i, score in enumerate(cv.scores):
            mlflow.log_metric("cv_f1_fold", score, step=i)
        flat = flatten_metrics({k: perf[k] for k in ("overall", "class", "slices")})
        mlflow.log_metrics({f"cv_{k}": v for k, v in flat.items() if k.startswith(("slices/", "class/"))})
        mlflow.set_tag("cv_scheme", cv.describe())
    return cv, behaviour


def log_reference_profile(cv: CVResult) -> dict:
    """The reference `tagifai monitor` compares served traffic with, and its picture, as run artifacts."""
    profile = cv.reference_profile()
    mlflow.log_dict(profile, ARTIFACTS["profile"])
    mlflow.log_figure(reference_profile_figure(profile), ARTIFACTS["profile_plot"])
    return profile
