"""Helpers for registry tests: the CLI as a user runs it, unique model names, and a registry snapshot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from app.cli import app

EXPERIMENT = "tests-train"  # where tests/conftest.py's trained_run and other_trained_run are logged


@pytest.fixture(scope="session")
def experiment() -> str:
    return EXPERIMENT


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str) -> CliResult:
    """`tagifai ARGS` in-process, with stdout and stderr kept apart."""
    result = CliRunner().invoke(app, list(args))
    exception = None if isinstance(result.exception, SystemExit) else result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr, exception)


@pytest.fixture
def cli(tracking_uri):
    return run_cli


@pytest.fixture
def model_name(tracking_uri) -> str:
    """A registered model name no other test uses."""
    return f"tagifai-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(tracking_uri) -> MlflowClient:
    return MlflowClient(tracking_uri)


def cv_f1(client: MlflowClient, run_id: str) -> float:
    return client.get_run(run_id).data.metrics["cv_f1_mean"]


@pytest.fixture
def ranked_runs(client, trained_run, other_trained_run) -> tuple[str, str]:
    """(better, worse) run ids of the two session runs by cv_f1_mean, what promotion ranks by."""
    a, b = trained_run.run_id, other_trained_run.run_id
    score_a, score_b = cv_f1(client, a), cv_f1(client, b)
    assert score_a != score_b, "the two session runs must differ in cv_f1_mean for these tests to mean anything"
    return (a, b) if score_a > score_b else (b, a)


@pytest.fixture
def snapshot(client):
    """`snapshot(name)`: aliases (alias -> version) and stages (version -> stage) of a registered model."""

    def take(name: str) -> dict:
        aliases = {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}
        stages = {str(mv.version): mv.current_stage for mv in client.search_model_versions(f"name = '{name}'")}
        return {"aliases": aliases, "stages": stages}

    return take


@pytest.fixture
def version_of_run(client):
    """`version_of_run(name, run_id)`: the one version registered for that run."""

    def find(name: str, run_id: str) -> str:
        versions = client.search_model_versions(f"name = '{name}' AND run_id = '{run_id}'")
        assert len(versions) == 1, f"expected one version of '{name}' for run {run_id}, got {len(versions)}"
        return str(versions[0].version)

    return find
