"""One MLflow run per `tagifai monitor` call, in experiment `tagifai-monitoring`: what was monitored (params),
every signal and the accuracy figures (metrics), the report and its plots (artifacts).

A tracking server that fails here must not lose what was computed: the report is already written and the
command still exits by drift, so a failure is returned as a message for stderr, not raised.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
from mlflow.exceptions import MlflowException

from monitoring.report import report_files, write_report
from monitoring.retention import format_duration
from tracking.remote import server_error

if TYPE_CHECKING:
    from monitoring.monitor import MonitorResult

EXPERIMENT = "tagifai-monitoring"
REPORT_NAME = "monitoring_report.md"


def params(result: MonitorResult) -> dict:
    start, end = result.window.key.bounds_text()
    return {"model_name": result.model.name, "model_version": result.model.version, "role": result.role,
            "run_id_monitored": result.model.run_id, "window_since": format_duration(result.window.key.since),
            "window_start": start, "window_end": end, "inference_log": result.log_uri,
            **{f"threshold_{k}": v for k, v in result.thresholds.to_dict().items()}}


def metrics(result: MonitorResult) -> dict[str, float]:
    found = {"rows": result.window.rows, "drift": float(result.drift),
             "estimated_accuracy": result.estimate.accuracy, "estimated_accuracy_std": result.estimate.std}
    for s in result.signals:
        found[s.name] = s.statistic
        found[f"{s.name}_drifted"] = float(s.drifted)
        if s.p_value is not None:
            found[f"{s.name}_p_value"] = s.p_value
    if result.measured is not None:
        m = result.measured
        found.update({"measured_accuracy": m.accuracy, "measured_f1": m.f1, "labeled_rows": m.rows,
                      "estimate_minus_measured": m.estimate_minus_measured,
                      **{f"measured_f1_{tag}": f1 for tag, f1 in m.per_class.items()}})
    return found


def _log(result: MonitorResult, report: Path) -> str:
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else mlflow.create_experiment(EXPERIMENT)
    name = f"{result.model.name}-v{result.model.version}-{result.role}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=mlflow.active_run() is not None) as run:
        mlflow.set_tags({"tagifai.job": "monitor", "drift": str(result.drift).lower()})
        mlflow.log_params(params(result))
        mlflow.log_metrics(metrics(result))
        mlflow.log_dict(result.to_dict() | {"run_id": run.info.run_id}, "monitor.json")
        for file in report_files(report):
            mlflow.log_artifact(str(file), artifact_path="report")
        return run.info.run_id


def log_monitoring_run(result: MonitorResult) -> tuple[str | None, str | None]:
    """(run id, None), or (None, why the run could not be logged)."""
    try:
        if result.report_path is not None:
            return _log(result, result.report_path), None
        with tempfile.TemporaryDirectory() as tmp:
            return _log(result, write_report(result, Path(tmp) / REPORT_NAME)), None
    except (MlflowException, OSError) as exc:  # OSError: also requests' errors and the artifact store's
        server = server_error(exc)
        return None, str(server or exc).strip().splitlines()[0]
