"""The MLflow run of a monitor call when the tracking server fails at the end: the report is kept, the result
still says drift or not, and the failure is a message for stderr instead of an exception."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient

from harness.inference_rows import hours_ago, insert_rows, register_profiled_version, shifted
from harness.ports import free_port
from monitoring.monitor import MonitorOptions, monitor
from monitoring.run import EXPERIMENT, log_monitoring_run

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



def test_the_command_warns_keeps_the_report_and_exits_by_drift_when_the_run_cannot_be_stored(
        sqlite_log, profile, tmp_path, monitor_cli, monkeypatch):
    """A tracking store of this test's own whose monitoring experiment has a file, not a folder, as its artifact
    root: the store answers, the artifact store fails at the end (as a full or unmounted artifact volume does)."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # for the command's process
    mlflow.set_tracking_uri(store)
    version = register_profiled_version("tagifai", profile)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    MlflowClient().create_experiment(EXPERIMENT, artifact_location=blocked.as_uri())
    insert_rows(sqlite_log, [shifted(profile, 120, "tagifai", version, logged_at=hours_ago(1))])
    report = tmp_path / "kept" / "report.md"

    done = monitor_cli("--inference-log", sqlite_log, "--report", report)

    assert done.code == 1, done.stderr
    assert "warning: the monitoring run was not logged to MLflow" in done.stderr, done.stderr
    assert f"the report is at {report}" in done.stderr
    assert report.is_file() and "drift:" in done.stdout
