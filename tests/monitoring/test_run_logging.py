"""The MLflow run of a monitor call when the tracking server fails at the end: the report is kept, the result
still says drift or not, and the failure is a message for stderr instead of an exception."""

from __future__ import annotations

import mlflow
import pytest

from harness.inference_rows import hours_ago, insert_rows, shifted
from harness.ports import free_port
from monitoring.monitor import MonitorOptions, monitor
from monitoring.run import log_monitoring_run

pytestmark = pytest.mark.slow


def test_a_tracking_server_that_is_down_loses_the_run_not_the_report(served, sqlite_log, profile, tmp_path,
                                                                     monkeypatch):
    insert_rows(sqlite_log, [shifted(profile, 120, served.name, served.champion, logged_at=hours_ago(1))])
    report = tmp_path / "report.md"
    result = monitor(MonitorOptions(sqlite_log, served.uri(), report=report, log_run=False))

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    run_id, error = log_monitoring_run(result)

    assert run_id is None and error, error
    assert "127.0.0.1" in error, error
    assert result.exit_code == 1 and report.is_file()
