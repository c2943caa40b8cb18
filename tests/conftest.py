"""Shared fixtures. Every test talks to a throw-away tracking store, never a developer's mlflow.db."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tagifai import config
from tagifai.args import TrainArgs

EXAMPLE_NLP = "Transfer learning with transformers for text classification."
EXAMPLE_CV = "Generative adversarial networks for image generation."


@pytest.fixture(scope="session", autouse=True)
def session_dir(tmp_path_factory) -> Iterator[Path]:
    """The working directory of every test, whatever runs first: a fresh folder, not the checkout (nothing a
    test writes to a relative path lands in the repo); the previous one is given back at the end.
    A test that needs a folder of its own uses `monkeypatch.chdir(tmp_path)`."""
    root = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        yield root


@pytest.fixture(scope="session")
def tracking_uri(session_dir) -> Iterator[str]:
    """A fresh SQLite store (+ local artifacts next to it, in `session_dir`) for the whole session, set for this
    process and children; MLFLOW_TRACKING_URI and MLflow's tracking URI are given back at the end."""
    uri = f"sqlite:///{session_dir / 'mlflow.db'}"
    previous_uri = mlflow.get_tracking_uri() if "MLFLOW_TRACKING_URI" in os.environ else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        yield uri
        mlflow.set_tracking_uri(previous_uri)  # then the patch gives back the variable as it was


@pytest.fixture(autouse=True)
def tracking_uri_given_back():
    """A command run in-process (CliRunner) sets MLflow's tracking URI for the whole process, and that outlives
    the test's environment: a later test would read another store. Give back the one the test started with."""
    before = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    yield
    after = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    if after != before:
        mlflow.set_tracking_uri(before)


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
