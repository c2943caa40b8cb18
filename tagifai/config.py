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

# The embedded default: SQLite in the working directory (the file store is refused by MLflow 3).
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """The tracking URI in force: MLFLOW_TRACKING_URI if set, else the embedded SQLite default."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
