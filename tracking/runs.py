"""One training run in MLflow: params, tags, dataset input, metrics, artifacts and the pyfunc model."""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tagifai import config
from tagifai.args import TrainArgs
from tagifai.data import LoadReport, file_digest, load_projects
from tracking.errors import ArtifactStoreError
from tagifai.evaluate import flatten_metrics
from tagifai.plots import class_metrics_figure, confusion_matrix_figure
from tracking.remote import server_error
from tagifai.crossval import N_REPEATS, CVResult
from tracking.quality import log_quality
from tagifai.train import FitResult, fit

logger = logging.getLogger(__name__)

NOTE_TAG = "mlflow.note.content"  # the run's description in the MLflow UI
FAST_PATH_SERVED_METRIC = "fastpath_served"  # 1.0: the logged model predicts through tagifai.fastpath


@dataclass
class TrainedRun:
    run_id: str
    model_uri: str
    model_id: str
    result: FitResult
    cv: CVResult | None = None  # cross-validation on train + val (None with cv_repeats=0)


def git_commit(cwd: Path = config.ROOT_DIR) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), transient=False,
    )


def _fit_with_progress(df: pd.DataFrame, args: TrainArgs) -> FitResult:
    """Epoch-wise progress bar; each epoch's losses also become MLflow metric steps (loss curves)."""
    total = args.num_epochs if args.classifier == "sgd" else 1
    with _progress() as progress:
        task = progress.add_task("fit", total=total, status="")

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            mlflow.log_metrics(metrics, step=epoch)
            status = f"train_loss={metrics['train_loss']:.3f} val_loss={metrics['val_loss']:.3f}"
            progress.update(task, completed=epoch, status=status)

        result = fit(df, args, on_epoch=on_epoch)
        progress.update(task, completed=total)
    return result


def _log_data(df: pd.DataFrame, data_path: Path, report: LoadReport) -> None:
    dataset = mlflow.data.from_pandas(
        df[["id", "created_on", "title", "description", "tag"]], source=str(data_path.resolve()),
        name="labeled_projects", targets="tag",
    )
    mlflow.log_input(dataset, context="training")
    mlflow.set_tags({"data_digest": file_digest(data_path), "data_rows_read": report.rows_read,
                     "data_rows_dropped": sum(report.dropped.values())})


def _log_results(result: FitResult, args: TrainArgs) -> None:
    perf = result.performance
    mlflow.log_metrics({**flatten_metrics(perf), "val_f1": result.val_f1, "threshold": result.predictor.threshold,
                        "temperature": result.predictor.temperature})
    mlflow.log_dict(perf, "performance.json")
    mlflow.log_dict(args.to_params(), "args.json")
    mlflow.log_dict({"mapping": result.mapping, "classes": result.predictor.classes.tolist()}, "label_mapping.json")
    classes = result.predictor.classes.tolist()
    for name, fig in (
        ("confusion_matrix.png", confusion_matrix_figure(result.splits.test["label"], result.test_pred, classes)),
        ("class_metrics.png", class_metrics_figure(perf["class"])),
    ):
        mlflow.log_figure(fig, name)


def _check_fast_path(result: FitResult) -> None:
    """The served predictions come from tagifai.fastpath: compare it with the plain pipeline (which every score
    of this run used) on the run's validation and test texts, log the figures, and serve the plain pipeline if
    they differ. Before the model is pickled, so the flag travels with it."""
    texts = result.splits.val["text"].tolist() + result.splits.test["text"].tolist()
    check = result.predictor.check_fast_path(texts)
    mlflow.log_metrics({**check.metrics(), FAST_PATH_SERVED_METRIC: float(result.predictor.use_fast_path)})
    if not check.agrees:
        logger.warning("the fast path differs from the plain pipeline on %d validation + test texts (max |diff| "
                       "%.3g, tags equal: %s%s): the model serves through the plain pipeline", check.n_texts,
                       check.max_abs_diff, check.tags_equal, f", error: {check.error}" if check.error else "")


def run_note(args: TrainArgs, result: FitResult, cv: CVResult | None) -> str:
    """The run's description in the MLflow UI (markdown): the model and its scores."""
    scores = [f"test f1 **{result.performance['overall']['f1']:.4f}**", f"val_f1 {result.val_f1:.4f}"]
    if cv is not None:
        scores.append(f"cv f1 {cv.mean:.4f} ± {cv.std:.4f} ({cv.n_splits}-fold x{cv.n_repeats})")
        scores.append(f"cv ece {cv.ece:.4f}")
    scores.append(f"threshold {result.predictor.threshold:.3f}")
    scores.append(f"temperature {result.predictor.temperature:.3f}")
    serving = "fast path" if result.predictor.use_fast_path else "plain pipeline (the fast path disagreed)"
    return f"{args.describe()}\n\n{' · '.join(scores)}\n\nserves through the {serving}"


def train_and_log(
    args: TrainArgs, data_path: Path = config.DATA_PATH, experiment_name: str = config.EXPERIMENT_NAME,
    run_name: str | None = None, cv_repeats: int = N_REPEATS,
) -> TrainedRun:
    """Train once and record everything a user compares runs on. Returns the run and model ids.

    The run is named from its arguments unless `run_name` is given (TrainArgs.short_name) and described by its
    note: the model and its scores (run_note)."""
    from mlflow_model.packaging import log_model  # the pyfunc packaging is MLflow's concern, not the ML's

    mlflow.set_tracking_uri(config.tracking_uri())
    config.silence_known_warnings()  # again: imports since the CLI started may have pushed filters ahead
    df, report = load_projects(data_path)
    if os.environ.get("MLFLOW_RUN_ID"):
        # Launched by `mlflow run`: the run already exists in the experiment given to `mlflow run
        # --experiment-name`; start_run() below resumes it, so our own experiment name cannot apply.
        logger.info("running inside `mlflow run`; experiment chosen by mlflow run, not %r", experiment_name)
    else:
        mlflow.set_experiment(experiment_name)
    run_id = None
    try:
        # On any exception, start_run's context manager ends the run FAILED before it propagates.
        with mlflow.start_run(run_name=run_name or args.short_name()) as run:
            run_id = run.info.run_id
            mlflow.log_params(args.to_params())
            commit = git_commit()
            if commit:
                mlflow.set_tag("git_commit", commit)
            _log_data(df, data_path, report)
            result = _fit_with_progress(df, args)
            _log_results(result, args)
            _check_fast_path(result)  # before behaviour and the model: both use the path that will serve
            cv, _ = log_quality(df, report, result, args, cv_repeats)  # CV, test predictions, behaviour
            info = log_model(result.predictor)
            mlflow.set_tag(NOTE_TAG, run_note(args, result, cv))
    except Exception as exc:
        error = server_error(exc)
        if not isinstance(error, ArtifactStoreError) or run_id is None:
            raise
        # The tracking server answered (it recorded FAILED) but could not store the run's files.
        raise ArtifactStoreError(f"{error}. The run ({run_id}) ended FAILED and nothing was registered; "
                                 "train again once the store is back") from exc
    logger.info("run %s: test f1=%.4f val_f1=%.4f", run.info.run_id, result.performance["overall"]["f1"], result.val_f1)
    return TrainedRun(run.info.run_id, info.model_uri, info.model_id, result, cv=cv)



