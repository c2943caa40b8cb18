"""Errors of `tagifai monitor`, defined once. All are bad input (exit 2): the CLI's one boundary (app/errors.py)
turns them into one `error: ...` line. Drift is not an error: the command exits 1 for it on its own."""

from tagifai.errors import InvalidUsageError


class MonitorInputError(InvalidUsageError):
    """Base class: something `tagifai monitor` was given cannot be used."""


class InferenceLogError(MonitorInputError):
    """The inference log cannot be read: no such file, unreachable database, no inference_log table."""


class EmptyWindowError(MonitorInputError):
    """The window holds no row for the model version and role asked for."""


class UnknownModelError(MonitorInputError):
    """--model-uri does not name a registered model version."""


class NoProfileError(MonitorInputError):
    """The version's training run logged no (readable) reference profile."""


class LabelsError(MonitorInputError):
    """The --labels file cannot be read, lacks a needed column, or none of its rows joins the window."""


class ThresholdError(MonitorInputError):
    """A --threshold override names no threshold or gives no valid number."""
