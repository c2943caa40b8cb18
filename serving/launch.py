"""Start `mlflow models serve` for a model URI, with what it needs that a bare shell may lack."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from tagifai import config
from tagifai.errors import TagifaiError

BIN_DIR = Path(sys.executable).parent


class ServeError(TagifaiError):
    """The server cannot be started (model URI does not resolve, ...)."""


def serve_command(model_uri: str, host: str, port: int, workers: int) -> list[str]:
    return [
        str(BIN_DIR / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
        "--host", host, "--port", str(port), "--workers", str(workers),
    ]


def serve_env() -> dict[str, str]:
    """MLflow starts uvicorn through `bash -c "exec uvicorn ..."`: our venv's bin must be on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("MLFLOW_TRACKING_URI", config.tracking_uri())
    return env


def check_model_uri(model_uri: str) -> None:
    """Fail before starting anything if the URI does not resolve: a clear message, not a traceback."""
    mlflow.set_tracking_uri(config.tracking_uri())
    try:
        mlflow.models.get_model_info(model_uri)
    except (MlflowException, OSError) as exc:
        message = getattr(exc, "message", str(exc))
        raise ServeError(f"model URI '{model_uri}' does not resolve on {config.tracking_uri()}: {message}") from None


def serve(model_uri: str, host: str, port: int, workers: int) -> None:
    """Replace this process with the scoring server (signals and exit code go straight to it)."""
    check_model_uri(model_uri)
    command = serve_command(model_uri, host, port, workers)
    os.execve(command[0], command, serve_env())
