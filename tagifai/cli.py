"""The `tagifai` command line. Thin: each command parses options and calls one function."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from tagifai import config
from tagifai.errors import TagifaiError

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


if __name__ == "__main__":
    app()
