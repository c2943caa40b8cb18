"""The CLI's one error boundary (app/errors.py): each error class's exit code, one line, no traceback."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from typer.testing import CliRunner

from app.cli import app
from app.errors import describe
from batch.errors import StalePredictionError, StoreError
from registry.errors import PromotionRefusedError, RegistryError, UnknownArgError
from tagifai.errors import DataValidationError, InvalidArgsError, TagifaiError
from tracking.errors import PermissionDeniedError


@pytest.mark.parametrize(("error", "code"), [
    (DataValidationError("no column 'tag'"), 2),
    (InvalidArgsError("alpha must be > 0"), 2),
    (UnknownArgError("no argument 'nope'"), 2),
    (StoreError("the store does not exist"), 2),
    (RegistryError("no champion"), 1),
    (PromotionRefusedError("worse than the champion"), 1),
    (StalePredictionError("stale"), 3),
])
def test_each_error_carries_its_exit_code(error: TagifaiError, code: int):
    assert describe(error) == (str(error), code)


def test_a_tracking_server_failure_behind_another_error_is_named_first():
    try:
        try:
            raise PermissionDeniedError("permission denied: user 'viewer' cannot register a model version")
        except PermissionDeniedError as cause:
            raise RegistryError("cannot promote") from cause
    except RegistryError as exc:
        message, code = describe(exc)
    assert message.startswith("permission denied: user 'viewer'") and code == 1


def test_an_untranslated_mlflow_error_shows_its_first_line():
    assert describe(MlflowException("Registered Model with name=x not found\nmore detail")) == (
        "Registered Model with name=x not found", 1)


def test_a_bug_is_not_dressed_up_as_a_message():
    assert describe(KeyError("oops")) is None


@pytest.fixture
def own_store(tmp_path, monkeypatch):
    """A tracking store of this test's own; MLflow's process-wide URI, which the CLI sets, is given back after."""
    import mlflow

    before = mlflow.get_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield
    mlflow.set_tracking_uri(before)


def test_a_bad_argument_is_one_line_and_exit_code_2(own_store):
    result = CliRunner().invoke(app, ["train", "--set", "alpha=-1"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: ") and "alpha" in result.stderr and "Traceback" not in result.output


def test_a_malformed_flag_value_is_a_usage_error(own_store, tmp_path):
    result = CliRunner().invoke(app, ["batch-score", "--input", "x.csv", "--output", str(tmp_path),
                                      "--spark-conf", "no-equals-sign"])
    assert result.exit_code == 2 and "--spark-conf takes KEY=VALUE, got: no-equals-sign" in result.stderr
