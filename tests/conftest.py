"""Shared fixtures. Every test talks to a throw-away tracking store, never a developer's mlflow.db."""

from __future__ import annotations

import os

import mlflow
import pytest

from tagifai import config
from tagifai.args import TrainArgs

EXAMPLE_NLP = "Transfer learning with transformers for text classification."
EXAMPLE_CV = "Generative adversarial networks for image generation."


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory) -> str:
    """A fresh SQLite store (+ local artifacts) for the whole session, set for this process and children."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    # Artifacts go next to the db, not into the working directory.
    os.chdir(root)
    yield uri
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


@pytest.fixture(scope="session")
def default_args() -> TrainArgs:
    return TrainArgs.from_file(config.ARGS_PATH)


@pytest.fixture(scope="session")
def trained_run(tracking_uri, default_args):
    """One real training run with the shipped arguments, logged to the session store."""
    from tracking.runs import train_and_log

    return train_and_log(default_args, experiment_name="tests-train", run_name="default")


@pytest.fixture(scope="session")
def other_trained_run(tracking_uri, default_args):
    """A second run with different arguments (different probabilities), same experiment.

    Only the regularisation changes, so both runs are real candidates that pass the promotion gate:
    the registry tests are about versions and aliases, tests/registry/test_gate.py about the gate."""
    from dataclasses import replace

    from tracking.runs import train_and_log

    # x10: with x2 to x5 the champion's validation F1 does not move, and the registry tests need two scores.
    args = replace(default_args, alpha=default_args.alpha * 10)
    return train_and_log(args, experiment_name="tests-train", run_name="alpha_x10")
