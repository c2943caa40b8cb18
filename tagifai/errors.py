"""Errors defined once. Each class carries what it means to a client (`http_status`, `error_code`) and to a
shell (`exit_code`); the scoring app's one exception handler and the CLI's one error boundary read them, so
no caller chooses a status or an exit code of its own.

Exit codes: 1 an operation failed (registry, server, store), 2 the input or arguments break a rule.
Each layer defines its own subclasses next to its code (`registry.errors`, `tracking.errors`, ...).
"""


class TagifaiError(Exception):
    """Base class for every error this project raises on purpose."""

    http_status: int = 500
    error_code: str = "INTERNAL_ERROR"
    exit_code: int = 1


class InvalidUsageError(TagifaiError):
    """Something the caller gave breaks a rule: 400 to a client, exit code 2 to a shell."""

    http_status = 400
    error_code = "INVALID_PARAMETER_VALUE"
    exit_code = 2


class DataValidationError(InvalidUsageError):
    """The labeled data file breaks a rule (missing column, duplicate id, ...)."""


class InvalidArgsError(InvalidUsageError):
    """A training argument is unknown or out of range."""


class InvalidInputError(InvalidUsageError, ValueError):
    """Texts given for prediction break a rule (empty list, missing or non-string text, ...)."""


class InputTooLargeError(InvalidInputError):
    """Too many rows, too long a text or too large a body in one request: 413."""

    http_status = 413
    error_code = "REQUEST_TOO_LARGE"
