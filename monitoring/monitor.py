"""`tagifai monitor` as a function: the CLI parses options into MonitorOptions and calls `monitor`; a test or
a script can call it the same way and read the MonitorResult.

Steps: check the options, open the log, resolve the model and its reference profile, read the window, compute
the signals and the estimate, join the labels, write the report, log the MLflow run (a tracking server that
fails then costs the run, never the report: `run_error` says why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from batch.errors import ModelResolutionError
from batch.models import ResolvedModel, parse
from monitoring import schema
from monitoring.drift import Signal, Thresholds, detect
from monitoring.errors import MonitorInputError
from monitoring.estimate import Estimate, estimate_accuracy
from monitoring.labels import Measured, measure, read_labels
from monitoring.reference import load_reference
from monitoring.report import write_report
from monitoring.retention import format_duration, parse_duration
from monitoring.run import log_monitoring_run
from monitoring.logdb import open_log
from monitoring.window import Window, WindowKey, read_window
from tagifai import config

DEFAULT_SINCE = "24h"


@dataclass(frozen=True)
class MonitorOptions:
    log_uri: str = schema.DEFAULT_URI
    model_uri: str | None = None  # default: models:/tagifai@<role>
    role: str | None = None  # default: the alias when it is a role, else champion
    since: str = DEFAULT_SINCE
    labels: Path | None = None
    report: Path | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    log_run: bool = True


@dataclass(eq=False)
class MonitorResult:
    model: ResolvedModel
    role: str
    log_uri: str  # redacted
    window: Window
    profile: dict
    signals: list[Signal]
    estimate: Estimate
    thresholds: Thresholds
    measured: Measured | None = None
    report_path: Path | None = None
    run_id: str | None = None
    run_error: str | None = None  # why the MLflow run could not be logged

    @property
    def drift(self) -> bool:
        return any(s.drifted for s in self.signals)

    @property
    def drifted(self) -> list[str]:
        return [s.name for s in self.signals if s.drifted]

    @property
    def exit_code(self) -> int:
        """0 nothing drifted, 1 something did (cron and CI alert on it)."""
        return 1 if self.drift else 0

    def to_dict(self) -> dict:
        start, end = self.window.key.bounds_text()
        out = {
            "drift": self.drift,
            "signals": {s.name: s.to_dict() for s in self.signals},
            "rows": self.window.rows,
            "estimated_accuracy": self.estimate.accuracy,
            "estimate": {k: v for k, v in self.estimate.to_dict().items() if k != "accuracy"},
            "model": self.model.name,
            "version": self.model.version,
            "role": self.role,
            "window": {"since": format_duration(self.window.key.since), "start": start, "end": end},
            "inference_log": self.log_uri,
            "run_id": self.run_id,
        }
        if self.measured is not None:
            out["measured"] = self.measured.to_dict()
        return out


def role_and_uri(model_uri: str | None, role: str | None) -> tuple[str, str]:
    """--role defaults to the URI's alias when that is a role (models:/tagifai@challenger), else champion;
    --model-uri defaults to models:/tagifai@<role>."""
    if role is not None and role not in schema.ROLES:
        raise MonitorInputError(f"--role must be one of {', '.join(schema.ROLES)}, got {role!r}")
    if model_uri is None:
        role = role or schema.ROLES[0]
        return role, f"models:/{config.MODEL_NAME}@{role}"
    if role is None:
        try:
            alias = parse(model_uri).alias
        except ModelResolutionError:
            alias = None  # reference.resolve_model explains the URI's forms
        role = alias if alias in schema.ROLES else schema.ROLES[0]
    return role, model_uri


def since_duration(value: str) -> timedelta:
    try:
        return parse_duration(value, "--since")
    except ValueError as exc:
        raise MonitorInputError(str(exc)) from None


def monitor(options: MonitorOptions) -> MonitorResult:
    role, model_uri = role_and_uri(options.model_uri, options.role)
    since = since_duration(options.since)
    labels = read_labels(options.labels) if options.labels else None  # a bad file fails before any query
    eng = open_log(options.log_uri)
    try:
        reference = load_reference(model_uri)
        key = WindowKey.last(reference.model.name, reference.model.version, role, since)
        window = read_window(eng, key)
        signals = detect(window.tag_counts, window.confidence, window.text_chars, window.oov_share,
                         reference.profile, options.thresholds)
        measured = measure(eng, key, options.labels, labels) if labels else None
    finally:
        eng.dispose()
    result = MonitorResult(reference.model, role, schema.redact(options.log_uri), window, reference.profile,
                           signals, estimate_accuracy(window.confidence), options.thresholds, measured)
    if options.report:
        result.report_path = write_report(result, options.report)
    if options.log_run:
        result.run_id, result.run_error = log_monitoring_run(result)
    return result
