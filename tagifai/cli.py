"""The `tagifai` command line. Thin: each command parses options and calls one function."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer

from tagifai import config
from tagifai.errors import TagifaiError, UnknownArgError

app = typer.Typer(help="TagIfAI: train, track, promote and serve a project tagger on MLflow.", no_args_is_help=True)


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "mlflow.store", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def train(
    data: Path = typer.Option(config.DATA_PATH, help="Labeled projects CSV."),
    args_file: Path = typer.Option(config.ARGS_PATH, help="Training arguments (JSON)."),
    experiment_name: str = typer.Option(config.EXPERIMENT_NAME, help="MLflow experiment."),
    run_name: Optional[str] = typer.Option(None, help="MLflow run name."),
    set_: list[str] = typer.Option([], "--set", help="Override an argument: --set alpha=1e-4 (repeatable)."),
) -> None:
    """Train a model and log a complete MLflow run with a servable pyfunc model."""
    from tagifai.args import TrainArgs, parse_overrides
    from tagifai.tracking import train_and_log

    try:
        args = TrainArgs.from_file(args_file, parse_overrides(set_))
        trained = train_and_log(args, data_path=data, experiment_name=experiment_name, run_name=run_name)
    except TagifaiError as exc:
        fail(str(exc), code=2)
    overall = trained.result.performance["overall"]
    typer.echo(f"run_id: {trained.run_id}")
    typer.echo(f"model_uri: {trained.model_uri}")
    typer.echo(f"test f1={overall['f1']:.4f} precision={overall['precision']:.4f} recall={overall['recall']:.4f}"
               f" val_f1={trained.result.val_f1:.4f} threshold={trained.result.predictor.threshold:.3f}")


def _echo_json(value) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=False))


@app.command()
def promote(
    experiment_name: str = typer.Option(config.EXPERIMENT_NAME, help="Experiment to pick the best run from."),
    metric: str = typer.Option("val_f1", help="Metric to rank runs by (higher is better)."),
    model_name: str = typer.Option(config.MODEL_NAME, help="Registered model name."),
    run_id: Optional[str] = typer.Option(None, help="Promote this run instead of the best one."),
    force: bool = typer.Option(False, "--force", help="Promote even if it scores worse than the champion."),
) -> None:
    """Register the best run's model and make it the champion (alias `champion`, stage Production)."""
    from registry.transitions import promote as do_promote

    _init_tracking()
    try:
        typer.echo(do_promote(experiment_name, model_name, metric=metric, run_id=run_id, force=force).message)
    except TagifaiError as exc:
        fail(str(exc))


@app.command()
def rollback(model_name: str = typer.Option(config.MODEL_NAME, help="Registered model name.")) -> None:
    """Make the `previous` version the champion again (twice returns to where you started)."""
    from registry.transitions import rollback as do_rollback

    _init_tracking()
    try:
        typer.echo(do_rollback(model_name).message)
    except TagifaiError as exc:
        fail(str(exc))


@app.command()
def models(model_name: str = typer.Option(config.MODEL_NAME, help="Registered model name.")) -> None:
    """The registered versions: aliases, stage, run and scores."""
    from rich.console import Console
    from rich.table import Table

    from registry.listing import COLUMNS, version_rows

    _init_tracking()
    try:
        rows = version_rows(model_name)
    except TagifaiError as exc:
        fail(str(exc))
    table = Table(title=f"registered model '{model_name}'")
    for column in COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row[c] is None else f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c])
                        for c in COLUMNS))
    Console(width=160).print(table)


@app.command()
def args(
    name: Optional[str] = typer.Argument(None, help="One argument's name; all when omitted."),
    model_uri: str = typer.Option(config.CHAMPION_URI, help="Model whose training arguments to show."),
) -> None:
    """Training arguments of a model, read from its run's params (JSON)."""
    from registry.metadata import model_args

    _init_tracking()
    try:
        _echo_json(model_args(model_uri, name))
    except UnknownArgError as exc:
        fail(str(exc), code=2)
    except TagifaiError as exc:
        fail(str(exc))


@app.command()
def performance(
    filter_: Optional[str] = typer.Option(None, "--filter", help="overall, class or slices."),
    model_uri: str = typer.Option(config.CHAMPION_URI, help="Model whose performance to show."),
) -> None:
    """The run's performance.json (or one part of it)."""
    from registry.metadata import model_performance

    _init_tracking()
    try:
        _echo_json(model_performance(model_uri, filter_))
    except UnknownArgError as exc:
        fail(str(exc), code=2)
    except TagifaiError as exc:
        fail(str(exc))


@app.command()
def serve(
    model_uri: Optional[str] = typer.Option(None, help=f"models:/ or runs:/ URI [default: {config.CHAMPION_URI}]."),
    host: Optional[str] = typer.Option(None, help="Interface [default: 127.0.0.1, keeps it local]."),
    port: Optional[int] = typer.Option(None, help="Port [default: 8000]."),
    workers: Optional[int] = typer.Option(None, min=1, help="Worker processes [default: 1]."),
    max_body_bytes: Optional[int] = typer.Option(None, help="Larger request bodies get 413 [default: 1 MiB]."),
    max_rows: Optional[int] = typer.Option(None, help="More rows per request get 413 [default: 5000]."),
    max_text_chars: Optional[int] = typer.Option(None, help="A longer text gets 413 [default: 20000]."),
    timeout_seconds: Optional[int] = typer.Option(None, "--timeout", help="Request time limit, then 504 [default: 30]."),
    allow_local_model: Optional[bool] = typer.Option(
        None, "--allow-local-model", help="Also serve local paths (a pyfunc model is code: trust it first)."),
) -> None:
    """Serve a model: MLflow's scoring protocol (POST /invocations), hardened (limits, JSON errors, /metrics).

    Every option can also be set as TAGIFAI_SERVE_<OPTION> (e.g. TAGIFAI_SERVE_WORKERS=2); flags win.
    """
    from serving.launch import serve as do_serve
    from serving.settings import ServeSettings

    _init_tracking()
    given = {k: v for k, v in locals().items() if k in ServeSettings.__dataclass_fields__ and v is not None}
    try:
        do_serve(ServeSettings(**given))
    except (TagifaiError, ValueError) as exc:
        fail(str(exc))


def _init_tracking() -> None:
    import os

    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep JSON output clean

    mlflow.set_tracking_uri(config.tracking_uri())


if __name__ == "__main__":
    app()
