"""tracking/remote.py: a tracking server's failures, as a real MLflow client meets them, named clearly.
(401 and 403 from a real basic-auth server are in tests/team.)"""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from harness.ports import free_port
from tracking.errors import TrackingServerUnreachableError
from tracking.remote import server_error


def test_a_server_that_is_not_there_is_named_unreachable(monkeypatch):
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with pytest.raises(Exception) as raised:
        MlflowClient(tracking_uri=uri).search_experiments()
    error = server_error(raised.value)
    assert isinstance(error, TrackingServerUnreachableError)
    assert f"cannot reach the tracking server {uri}: connection refused or unreachable" in str(error)
    assert error.exit_code == 1


@pytest.mark.slow  # creates a SQLite tracking store (MLflow's migrations)
def test_an_error_of_a_local_store_is_not_a_server_error(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(MlflowException) as raised:
        MlflowClient(tracking_uri=uri).get_registered_model("no-such-model")
    assert server_error(raised.value) is None
