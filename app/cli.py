"""The `tagifai` command line. Thin: each command parses options and calls one function."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer

from app.errors import ErrorBoundary, GateRefusedError, UsageError
from app.users import users_app
from tagifai import config

# ErrorBoundary: every error that escapes a command becomes one line and its class's exit code (app/errors.py).
app = typer.Typer(help="TagIfAI: train, track, promote and serve a project tagger on MLflow.", no_args_is_help=True,
                  cls=ErrorBoundary)
app.add_typer(users_app, name="users")  # accounts and grants on a team tracking server


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "mlflow.store", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not verbose:
        config.silence_known_warnings()


@app.command()
def train(
    data: Path = typer.Option(config.DATA_PATH, help="Labeled projects CSV."),
    args_file: Path = typer.Option(config.ARGS_PATH, help="Training arguments (JSON)."),
    experiment_name: str = typer.Option(config.EXPERIMENT_NAME, help="MLflow experiment."),
    run_name: Optional[str] = typer.Option(
        None, help="MLflow run name (default: from the arguments, e.g. nbsvm-charwb2-5+minilm64_learned)."),
    set_: list[str] = typer.Option([], "--set", help="Override an argument: --set alpha=1e-4 (repeatable)."),
    cv_repeats: int = typer.Option(2, min=0, help="Repeats of the 5-fold cross-validation logged (0: none)."),
) -> None:
    """Train a model and log a complete MLflow run with a servable pyfunc model."""
    from tagifai.args import TrainArgs, parse_overrides
    from tracking.runs import train_and_log

    args = TrainArgs.from_file(args_file, parse_overrides(set_))
    trained = train_and_log(args, data_path=data, experiment_name=experiment_name, run_name=run_name,
                            cv_repeats=cv_repeats)
    overall = trained.result.performance["overall"]
    typer.echo(f"run_id: {trained.run_id}")
    typer.echo(f"model_uri: {trained.model_uri}")
    typer.echo(f"test f1={overall['f1']:.4f} precision={overall['precision']:.4f} recall={overall['recall']:.4f}"
               f" val_f1={trained.result.val_f1:.4f} threshold={trained.result.predictor.threshold:.3f}")
    if trained.cv is not None:
        typer.echo(f"cv f1={trained.cv.mean:.4f}±{trained.cv.std:.4f} ({trained.cv.describe()})")


def _echo_json(value) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=False))


@app.command()
def promote(
    experiment_name: str = typer.Option(config.EXPERIMENT_NAME, help="Experiment to pick the best run from."),
    metric: str = typer.Option("cv_f1_mean", help="Metric to rank runs by (higher is better); runs without "
                                                   "cv_f1_mean (older ones) are ranked by val_f1."),
    model_name: str = typer.Option(config.MODEL_NAME, help="Registered model name."),
    run_id: Optional[str] = typer.Option(None, help="Promote this run instead of the best one."),
    force: bool = typer.Option(False, "--force", help="Promote even if it scores worse than the champion "
                                                      "or fails the gate (behavioural tests, slices)."),
) -> None:
    """Register the best run's model (by its cross-validated F1) and make it the champion (alias `champion`,
    stage Production)."""
    from registry.transitions import promote as do_promote

    _init_tracking()
    typer.echo(do_promote(experiment_name, model_name, metric=metric, run_id=run_id, force=force).message)


@app.command()
def challenger(
    run_id: Optional[str] = typer.Option(None, help="The run whose model becomes the challenger."),
    model_name: str = typer.Option(config.MODEL_NAME, help="Registered model name."),
    force: bool = typer.Option(False, "--force", help="Skip the promotion gate (behavioural tests, slices)."),
    clear: bool = typer.Option(False, "--clear", help="Remove the challenger alias."),
) -> None:
    """Give a run's model the `challenger` alias (after the promotion gate), or remove it: a server started with
    --challenger compares it with the champion on live traffic (shadow or split)."""
    from registry.transitions import clear_challenger, set_challenger

    if clear == (run_id is not None):
        raise UsageError("give --run-id RUN to set the challenger, or --clear to remove it")
    _init_tracking()
    typer.echo((clear_challenger(model_name) if clear else set_challenger(model_name, run_id, force)).message)


@app.command()
def rollback(model_name: str = typer.Option(config.MODEL_NAME, help="Registered model name.")) -> None:
    """Make the `previous` version the champion again (twice returns to where you started)."""
    from registry.transitions import rollback as do_rollback

    _init_tracking()
    typer.echo(do_rollback(model_name).message)


@app.command()
def models(model_name: str = typer.Option(config.MODEL_NAME, help="Registered model name.")) -> None:
    """The registered versions: aliases, stage, run and scores."""
    from rich.console import Console
    from rich.table import Table

    from registry.listing import COLUMNS, version_rows

    _init_tracking()
    rows = version_rows(model_name)
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
    _echo_json(model_args(model_uri, name))


@app.command()
def performance(
    filter_: Optional[str] = typer.Option(None, "--filter", help="overall, class or slices."),
    model_uri: str = typer.Option(config.CHAMPION_URI, help="Model whose performance to show."),
) -> None:
    """The run's performance.json (or one part of it)."""
    from registry.metadata import model_performance

    _init_tracking()
    _echo_json(model_performance(model_uri, filter_))


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
    graceful_shutdown_seconds: Optional[int] = typer.Option(
        None, "--graceful-shutdown", help="On SIGTERM, seconds in-flight requests get to finish [default: 30]."),
    allow_local_model: Optional[bool] = typer.Option(
        None, "--allow-local-model", help="Also serve local paths (a pyfunc model is code: trust it first)."),
    max_batch_size: Optional[int] = typer.Option(
        None, min=1, help="Join concurrent requests' rows into one predict call of at most this many rows; each "
                          "request is validated and answered on its own. 1 turns batching off [default: 64]."),
    max_batch_wait_ms: Optional[float] = typer.Option(
        None, min=0, help="A batch waits at most this long for more rows (a quiet server does not wait) "
                          "[default: 2]."),
    poll_interval: Optional[float] = typer.Option(
        None, help="Seconds between registry checks of the alias or stage; a new version is loaded and swapped in "
                   "without a restart. 0 pins the version found at start [default: 10]."),
    challenger: Optional[str] = typer.Option(
        None, help=f"A second model compared with the champion on live traffic, following its alias like the "
                   f"champion (e.g. {config.CHALLENGER_URI}) [default: none]."),
    challenger_mode: Optional[str] = typer.Option(
        None, help="shadow: the champion answers, the challenger scores the same rows after the answer is sent; "
                   "split: the challenger answers a share of requests [default: shadow]."),
    challenger_share: Optional[float] = typer.Option(
        None, help="split: the share of requests the challenger answers; requests with X-Routing-Key are routed "
                   "by its hash [default: 0.1]."),
    shadow_queue: Optional[int] = typer.Option(
        None, help="shadow: requests waiting for the challenger before new ones are dropped [default: 1000]."),
    auth_token_file: Optional[str] = typer.Option(
        None, help="Require 'Authorization: Bearer <token>' on every route but the probes and /metrics; the file "
                   "holds one token per line, or name:token [default: no authentication]."),
    prediction_store: Optional[str] = typer.Option(
        None, help="Prediction store URL (what batch-score writes): GET /predictions answers from it [default: none]."),
    inference_log: Optional[str] = typer.Option(
        None, help="Log every scored row (version, role, text hash and length, OOV share, tag, probabilities, "
                   "latency) to this SQLite or PostgreSQL URL, off the request path; none turns it off "
                   "[default: sqlite:///inference.db]."),
    log_inputs: Optional[bool] = typer.Option(
        None, "--log-inputs", help="Also store the raw texts in the inference log [default: hash only]."),
    inference_log_queue: Optional[int] = typer.Option(
        None, help="Requests waiting to be logged, per worker; beyond this their rows are dropped (counted), "
                   "never waited for [default: 10000]."),
    inference_log_retention: Optional[str] = typer.Option(
        None, help="Delete inference-log rows older than this (e.g. 30d, 24h), checked hourly [default: keep]."),
) -> None:
    """Serve a model: MLflow's scoring protocol (POST /invocations), hardened (limits, JSON errors, /metrics),
    following its alias in the registry, with its args and performance at GET /args and /performance.

    Every option can also be set as TAGIFAI_SERVE_<OPTION> (e.g. TAGIFAI_SERVE_WORKERS=2); flags win.
    """
    from serving.launch import serve as do_serve
    from serving.settings import ServeSettings

    _init_tracking()
    given = {k: v for k, v in locals().items() if k in ServeSettings.__dataclass_fields__ and v is not None}
    code = do_serve(ServeSettings(**given))
    if code:
        raise typer.Exit(code)


@app.command("compare-live")
def compare_live(url: str = typer.Option("http://127.0.0.1:8000", help="The running `tagifai serve`."),
                 token: Optional[str] = typer.Option(None, envvar="TAGIFAI_TOKEN",
                                                     help="Bearer token, if the server asks for one.")) -> None:
    """The champion and the challenger side by side, from a running server's GET /models: requests, errors,
    p50/p99, tag shares and (in shadow mode) agreement."""
    from rich.console import Console

    from app.live import comparison_table, fetch_models

    Console(width=160).print(comparison_table(fetch_models(url, token)))


@app.command("batch-score")
def batch_score(
    input_: str = typer.Option(..., "--input", help="CSV or Parquet file or folder: `id` and `text` (or `title` + "
                                                   "`description`)."),
    output: str = typer.Option(..., "--output", help="Folder for predictions/ and rejects/ (Parquet)."),
    model_uri: str = typer.Option(config.CHAMPION_URI, help="Registered model to score with (resolved once)."),
    store: Optional[str] = typer.Option(None, help="Prediction store URL (default: $TAGIFAI_STORE_URL, else "
                                                   f"{config.DEFAULT_STORE_URL})."),
    master: str = typer.Option("local[*]", help="Spark master (on a cluster use spark-submit: docs/batch.md)."),
    format_: Optional[str] = typer.Option(None, "--format", help="csv or parquet (default: from the file names)."),
    partitions: Optional[int] = typer.Option(None, min=1, help="Spark tasks (default: 4 per core to split the "
                                                              "input, one per 50k rows to score)."),
    spark_conf: list[str] = typer.Option([], "--spark-conf", help="Spark setting KEY=VALUE (repeatable)."),
) -> None:
    """Score a file of projects with Spark into Parquet and the prediction store, as an MLflow run."""
    from batch.job import run_job

    logging.getLogger("py4j").setLevel(logging.WARNING)
    _init_tracking()
    conf = dict(item.split("=", 1) for item in spark_conf if "=" in item)
    if len(conf) != len(spark_conf):
        raise UsageError(f"--spark-conf takes KEY=VALUE, got: {', '.join(i for i in spark_conf if '=' not in i)}")
    result = run_job(input_, output, model_uri, store, master, fmt=format_, partitions=partitions,
                     spark_conf=conf)
    rejected = ", ".join(f"{reason}: {n}" for reason, n in result.rejected.items() if n) or "none"
    typer.echo(f"run_id: {result.run_id}")
    typer.echo(f"model: {result.model_name} version {result.model_version}")
    typer.echo(f"rows: {result.rows_in} in, {result.rows_out} scored, {result.rows_rejected} rejected ({rejected})")
    typer.echo(f"predictions: {result.predictions_path}")
    typer.echo(f"rejects: {result.rejects_path}")
    typer.echo(f"store: {result.store} ({result.seconds['total']:.1f} s)")


@app.command()
def lookup(
    id_: str = typer.Argument(..., metavar="ID", help="The input row's id."),
    store: Optional[str] = typer.Option(None, help="Prediction store URL (default: $TAGIFAI_STORE_URL, else "
                                                   f"{config.DEFAULT_STORE_URL})."),
    model_uri: str = typer.Option(config.CHAMPION_URI, help="Answer with the version this points to now."),
    allow_stale: bool = typer.Option(False, "--allow-stale", help="Return another version's prediction anyway."),
) -> None:
    """The stored prediction for ID (JSON). Exit 1: none stored; 3: only another version's (stale)."""
    from batch.lookup import answer
    from batch.lookup import lookup as do_lookup

    _init_tracking()
    result = do_lookup(id_, store, model_uri)
    answer(result, allow_stale, "--allow-stale")  # the same rule as GET /predictions/{id}: refuses or returns
    if result.stale:
        typer.secho(f"warning: {result.message()}", fg=typer.colors.YELLOW, err=True)
    _echo_json(result.to_dict())


@app.command()
def optimize(
    trials: int = typer.Option(30, "--trials", min=1, help="Number of Optuna trials."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=1, help="Stop starting trials after S seconds."),
    experiment_name: str = typer.Option("tagifai-optimize", help="MLflow experiment of the search."),
    write_args: Optional[Path] = typer.Option(None, "--write-args", help="Write the winning arguments here "
                                                                         "(e.g. config/args.json)."),
    data: Path = typer.Option(config.DATA_PATH, help="Labeled projects CSV."),
    args_file: Path = typer.Option(config.ARGS_PATH, help="Arguments the search starts from (trial 0)."),
    confirm_top: int = typer.Option(5, "--confirm-top", min=1, help="Feasible trials re-scored at the end."),
    confirm_seeds: int = typer.Option(2, "--confirm-seeds", min=0,
                                      help="More CV fold seeds for them (0: pick by the search's CV alone)."),
) -> None:
    """Search features and classifiers with Optuna; objective: repeated stratified CV F1 on train + val."""
    from tagifai.args import TrainArgs
    from tagifai.search import is_feasible
    from tagifai.search import optimize as do_optimize

    _init_tracking()
    base = TrainArgs.from_file(args_file)
    result = do_optimize(n_trials=trials, timeout=timeout, experiment_name=experiment_name, data_path=data,
                         base_args=base, write_args=write_args, confirm_top=confirm_top,
                         confirm_seeds=confirm_seeds)
    mean, std = result.best_cv
    summary = result.summary
    typer.echo(f"parent run: {result.parent_run_id} (experiment '{result.experiment_name}')")
    typer.echo(f"trials: {summary['trials']} in {summary['duration_s']:.0f}s")
    if summary["baseline"]:
        typer.echo(f"trial 0 ({args_file.name}): cv f1={summary['baseline']['cv_f1_mean']:.4f}")
    best = summary["best"]
    infeasible = "" if is_feasible(result.best_trial) else " (no trial passed every case within the cost limit)"
    typer.echo(f"best: trial {best['trial']} cv f1={mean:.4f}±{std:.4f}, cost {best['cost_ratio']:.2f}x the "
               f"original{infeasible}")
    if best["confirmed"]:
        seeds = ", ".join(map(str, best["confirmed"]["fold_seeds"]))
        typer.echo(f"confirmed over fold seeds {seeds}: cv f1={best['confirmed']['mean']:.4f}±"
                   f"{best['confirmed']['std']:.4f} (best of the {len(summary['confirmation'])} finalists)")
    top = summary["best_unconstrained"]
    if top and top["trial"] != result.best_trial.number:
        typer.echo(f"best cv f1 of any trial: trial {top['trial']} {top['cv_f1_mean']:.4f}, cost "
                   f"{top['cost_ratio']:.2f}x (fails behavioural cases: {', '.join(top['failed_cases'] or []) or '-'})")
    _echo_json(result.summary["best"]["args"])
    if write_args:
        typer.echo(f"wrote {write_args}")


@app.command()
def report(
    model_uri: str = typer.Option(config.CHAMPION_URI, help="Model to report on."),
    output: Path = typer.Option(config.ROOT_DIR / "docs" / "model.md", help="Markdown file (PNGs go beside it)."),
) -> None:
    """Write a model report (data, args, metrics, CV, behaviour, worst mistakes) from the model's run."""
    from app.report import write_report

    _init_tracking()
    path = write_report(model_uri, output)
    typer.echo(f"wrote {path}")


@app.command()
def gate(model_uri: str = typer.Option(config.CHAMPION_URI, help="Model to check.")) -> None:
    """Run the promotion gate (behavioural tests + slice checks) on a model; exit 1 if it fails."""
    from registry.gate import check_candidate

    _init_tracking()
    result = check_candidate(model_uri)
    for kind, counts in result.behaviour.summary().items():
        if counts["total"]:
            typer.echo(f"behaviour {kind}: {counts['passed']}/{counts['total']} passed")
    for case in result.behaviour.limitations:
        typer.echo(f"known limitation {case.name} (not gating): {'passes' if case.passed else 'fails'}")
    for check in result.slices:
        typer.echo(f"{check.describe()} -> {'pass' if check.passed else 'FAIL'}")
    if not result.passed:
        raise GateRefusedError("the gate refuses this model:\n" + "\n".join(f"  - {f}" for f in result.failures))
    typer.echo("gate passed")


@app.command()
def monitor(
    inference_log: Optional[str] = typer.Option(
        None, help="The server's inference log, a SQLite or PostgreSQL URL (default: sqlite:///inference.db)."),
    model_uri: Optional[str] = typer.Option(None, help="The served model (default: models:/tagifai@ROLE)."),
    role: Optional[str] = typer.Option(None, help="champion or challenger (default: the URI's alias if it is "
                                                  "one, else champion)."),
    since: str = typer.Option("24h", help="The window: rows logged in the last 90m, 24h, 7d, ..."),
    labels: Optional[Path] = typer.Option(None, help="CSV of `tag` and `request_id` or `text`: measured accuracy "
                                                     "and F1 of the logged predictions."),
    report: Optional[Path] = typer.Option(None, help="Write a Markdown report here (PNG plots beside it)."),
    json_: bool = typer.Option(False, "--json", help="Print JSON instead of the table."),
    threshold: list[str] = typer.Option([], "--threshold", help="Override a threshold: --threshold psi=0.3 "
                                                                "(repeatable; names in docs/monitoring.md)."),
    prune_older_than: Optional[str] = typer.Option(
        None, help="Only delete log rows older than this (e.g. 30d) and exit; nothing is monitored."),
) -> None:
    """Compare a window of the inference log with the served version's reference profile: drift signals, the
    accuracy estimate, measured accuracy with --labels; one MLflow run in `tagifai-monitoring`.
    Exit 0 nothing drifted, 1 something drifted, 2 bad input."""
    from monitoring.drift import Thresholds
    from monitoring.monitor import MonitorOptions
    from monitoring.monitor import monitor as do_monitor
    from monitoring.report import table
    from monitoring.schema import DEFAULT_URI

    inference_log = inference_log or DEFAULT_URI
    if prune_older_than is not None:
        from monitoring.retention import prune_log

        typer.echo(prune_log(inference_log, prune_older_than).message())
        return
    _init_tracking()
    options = MonitorOptions(inference_log, model_uri, role, since, labels, report,
                             Thresholds().with_overrides(threshold))
    result = do_monitor(options)
    if result.run_error:
        typer.secho(f"warning: the monitoring run was not logged to MLflow ({result.run_error}); "
                    + (f"the report is at {result.report_path}" if result.report_path else "results below"),
                    fg=typer.colors.YELLOW, err=True)
    _echo_json(result.to_dict()) if json_ else typer.echo(table(result))
    if result.report_path:
        typer.echo(f"wrote {result.report_path}", err=json_)
    raise typer.Exit(result.exit_code)


def _init_tracking() -> None:
    import mlflow

    mlflow.set_tracking_uri(config.tracking_uri())


if __name__ == "__main__":
    app()
