"""`tagifai serve`: check the model URI, fetch and load the model once, then run our scoring app under uvicorn.

Everything that can fail at start (URI, download, corrupted files) fails here, before a socket is bound,
with a one-line message and a non-zero exit.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from serving import environment
from serving.errors import ServeError
from serving.settings import ServeSettings
from tagifai import config

BIN_DIR = Path(sys.executable).parent
REMOTE_SCHEMES = ("models:/", "runs:/")


def serve_env() -> dict[str, str]:
    """For the vanilla `mlflow models serve`: it execs `uvicorn` through bash, so our bin must be on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("MLFLOW_TRACKING_URI", config.tracking_uri())
    return env


def check_uri_policy(model_uri: str, allow_local_model: bool) -> None:
    """A pyfunc model is code: only load what the configured tracking server vouches for, unless told."""
    if model_uri.startswith(("models://", "runs://")):  # an authority names another registry/workspace
        raise ServeError(f"refusing to load '{model_uri}': only models:/ and runs:/ URIs of the configured "
                         f"tracking server ({config.tracking_uri()}) are served, not ones naming another server")
    if not model_uri.startswith(REMOTE_SCHEMES) and not allow_local_model:
        raise ServeError(
            f"refusing to load '{model_uri}': only models:/ and runs:/ URIs of the tracking server "
            f"({config.tracking_uri()}) are served; pass --allow-local-model to serve a local path"
        )


def model_identity(model_uri: str):
    """(registered name, version) for X-Model-Name / X-Model-Version and metric labels."""
    from serving.app import ModelIdentity

    client = MlflowClient()
    if model_uri.startswith("models:/") and not model_uri.startswith("models:/m-"):
        ref = model_uri[len("models:/"):].strip("/")
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return ModelIdentity(name, str(client.get_model_version_by_alias(name, alias).version))
        name, _, which = ref.partition("/")
        if which.isdigit():
            return ModelIdentity(name, which)
        versions = client.get_latest_versions(name, stages=None if which == "latest" else [which])
        if versions:
            return ModelIdentity(name, str(max(int(v.version) for v in versions)))
    info = mlflow.models.get_model_info(model_uri)
    return ModelIdentity("unregistered", info.model_id or info.run_id or "local")


def one_line(exc: Exception) -> str:
    """An exception's message on one line, bounded, for a start-up error."""
    return " ".join(str(exc).split())[:300]


def fetch_and_load(model_uri: str, dst: str):
    """Download the model, check this environment against its requirements, load it (workers fork from here)."""
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=dst)
        for mismatch in environment.mismatches(local):
            print(f"warning: this environment differs from the model's: {mismatch}", file=sys.stderr, flush=True)
        with quiet_model_warnings():  # suppress_warnings: MLflow's slow requirements check, done just above
            return mlflow.pyfunc.load_model(local, suppress_warnings=True)
    except MlflowException as exc:
        detail = exc.message.splitlines()[0].replace(" Review the stack trace for more information.", "")
        raise ServeError(f"cannot load model '{model_uri}': {detail[:300]}") from None
    except Exception as exc:  # corrupted pickle, missing files, bad MLmodel ...
        detail = one_line(exc)
        if not detail:
            detail = "a file ends too early (truncated?)" if isinstance(exc, EOFError) else "no detail"
        raise ServeError(f"cannot load model '{model_uri}': its files are broken or incomplete "
                         f"({type(exc).__name__}: {detail})") from None


def warm_up(model, model_uri: str) -> None:
    """One prediction before serving: the model's first call builds its lookup tables (a quarter of a second);
    done here, the first client does not wait for it, and forked workers inherit the tables."""
    import pandas as pd

    try:
        model.predict(pd.DataFrame({"text": ["Fine-tuning a transformer to tag images and texts."]}))
    except Exception as exc:
        detail = one_line(exc) or "no detail"
        raise ServeError(f"model '{model_uri}' loads but cannot predict ({type(exc).__name__}: {detail})") from None


@contextmanager
def quiet_model_warnings():
    """MLflow warns on every load that our PythonModel has no type hints: noise before a one-line error and in
    every worker's log. (MLflow sets its own filter around the check, so a filterwarnings() entry is ignored.)"""
    with warnings.catch_warnings(record=True) as caught:
        yield
    for w in caught:
        if "Add type hints to the `predict` method" not in str(w.message):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def serve(settings: ServeSettings) -> int:
    """Check, fetch and load the model, then serve it until stopped; the exit code."""
    if settings.workers > 1:  # before prometheus_client is imported: it picks its storage at import
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tagifai-metrics-")
    from serving import uvicorn_server
    from serving.app import create_app
    from serving.logs import configure_logging
    from serving.prefork import serve_forked

    mlflow.set_tracking_uri(config.tracking_uri())
    check_uri_policy(settings.model_uri, settings.allow_local_model)
    identity = resolve_identity(settings.model_uri)
    model = fetch_and_load(settings.model_uri, tempfile.mkdtemp(prefix="tagifai-serve-"))
    warm_up(model, settings.model_uri)
    configure_logging()
    app = create_app(model, settings, identity)
    options = dict(access_log=False, log_level="warning", timeout_graceful_shutdown=settings.graceful_shutdown_seconds)
    print(f"serving {identity.name} version {identity.version} ({settings.model_uri}) on "
          f"http://{settings.host}:{settings.port} with {settings.workers} worker(s)", file=sys.stderr, flush=True)
    if settings.workers == 1:
        return 0 if uvicorn_server.serve(app, dict(options, host=settings.host, port=settings.port)) else 3
    try:  # the workers are forked from this process, model loaded (serving/prefork.py)
        return serve_forked(app, settings.host, settings.port, settings.workers, options)
    except OSError as exc:
        raise ServeError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None


def resolve_identity(model_uri: str):
    try:
        return model_identity(model_uri)
    except MlflowException as exc:
        raise ServeError(f"model URI '{model_uri}' does not resolve on {config.tracking_uri()}: "
                         f"{exc.message.splitlines()[0][:300]}") from None
    except Exception as exc:  # e.g. an MLmodel file that is not YAML
        detail = one_line(exc) or "no detail"
        raise ServeError(f"cannot read model '{model_uri}': its files are broken or incomplete "
                         f"({type(exc).__name__}: {detail})") from None
