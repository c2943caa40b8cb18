"""Configuration in one place: paths, accepted tags, MLflow names and defaults."""

from __future__ import annotations

import os
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
DATA_PATH = ROOT_DIR / "data" / "labeled_projects.csv"
ARGS_PATH = ROOT_DIR / "config" / "args.json"

ACCEPTED_TAGS = ("natural-language-processing", "computer-vision", "mlops")
OTHER_TAG = "other"

REQUIRED_COLUMNS = ("id", "created_on", "title", "description", "tag")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

EXPERIMENT_NAME = "tagifai"
MODEL_NAME = "tagifai"
MODEL_ARTIFACT_NAME = "model"
CHAMPION_ALIAS = "champion"
PREVIOUS_ALIAS = "previous"
CHAMPION_URI = f"models:/{MODEL_NAME}@{CHAMPION_ALIAS}"
CHALLENGER_ALIAS = "challenger"
CHALLENGER_URI = f"models:/{MODEL_NAME}@{CHALLENGER_ALIAS}"

# The embedded default: SQLite in the working directory (the file store is refused by MLflow 3).
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


# SQLAlchemy 2.1 reads a driverless postgresql:// as psycopg 3, which is not installed; psycopg2 is (pyproject.toml).
POSTGRES_SCHEMES = ("postgresql", "postgres")
POSTGRES_DRIVER = "psycopg2"
# Environment variables that hold a database URI for MLflow (and for the processes we start).
DATABASE_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def database_uri(uri: str) -> str:
    """The URI SQLAlchemy should be given: `postgresql://` or `postgres://` without a driver becomes
    `postgresql+psycopg2://`; the rest (user, password, host, database, query) is kept as written. Every other
    URI (a driver already named, sqlite:, http:, a path ...) is returned unchanged."""
    scheme, sep, rest = uri.partition("://")
    if sep and scheme.lower() in POSTGRES_SCHEMES:
        return f"postgresql+{POSTGRES_DRIVER}://{rest}"
    return uri


def apply_database_drivers(environ: dict[str, str] | None = None) -> None:
    """Rewrite DATABASE_URI_VARIABLES in this process's environment with `database_uri`, so MLflow here and in
    every process started from here (scoring servers, Spark workers) gets a driver that is installed."""
    environ = os.environ if environ is None else environ
    for name in DATABASE_URI_VARIABLES:
        if environ.get(name):
            environ[name] = database_uri(environ[name])


def tracking_uri() -> str:
    """The tracking URI in force: MLFLOW_TRACKING_URI if set, else the embedded SQLite default (database URIs
    through `database_uri`)."""
    return database_uri(os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI)


# How the MLflow client behaves in our commands. Its own HTTP defaults (7 retries with exponential backoff,
# 120 s per request) turn an unreachable server into minutes of silence; with these a refused connection fails
# in ~7 s. Its download progress bars would interleave with JSON output. MLflow reads these only from the
# environment, so they are set there once, with setdefault: the user's own values win.
CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def apply_client_defaults() -> None:
    """Put CLIENT_DEFAULTS into this process's environment (children such as servers inherit them)."""
    for name, value in CLIENT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def read_env_file(path: str | Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file (`export ` prefixes, quotes and # comments allowed), like `set -a; . FILE`."""
    values: dict[str, str] = {}
    for number, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


# Batch scoring (package `batch`): its runs go to their own experiment, never the training one.
BATCH_EXPERIMENT_NAME = "tagifai-batch"
DEFAULT_STORE_URL = "sqlite:///predictions.db"


def store_url() -> str:
    """The prediction store in force: TAGIFAI_STORE_URL if set, else SQLite in the working directory (batch.store
    gives it to SQLAlchemy through `database_uri`)."""
    return os.environ.get("TAGIFAI_STORE_URL") or DEFAULT_STORE_URL


# MLflow warnings that are expected with this design and only bury the output a user needs to read.
KNOWN_WARNINGS = (
    r"The specified dataset source can be interpreted in multiple ways",  # a local CSV path: it picks right
    r".*Add type hints to the `predict` method",  # our signature is explicit (mlflow_model/packaging.py)
    r"Hint: Inferred schema contains integer column",  # the dataset's int `id` column, never missing
    r".*transition_model_version_stage.* is deprecated",  # stages mirror aliases on purpose (registry/)
)


def silence_known_warnings() -> None:
    import warnings

    for pattern in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
