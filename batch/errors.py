"""Errors of the batch package, all TagifaiError so the CLI turns them into one clear line."""

from tagifai.errors import TagifaiError


class BatchInputError(TagifaiError):
    """The input as a whole cannot be read (missing path, unknown format, no `id` or text columns)."""


class ModelResolutionError(TagifaiError):
    """The model URI does not name a registered model version (or the registry cannot be reached)."""


class StoreError(TagifaiError):
    """The prediction store cannot be used (unreachable, no predictions table yet, ...)."""

    http_status = 503
    error_code = "STORE_UNAVAILABLE"
    exit_code = 2


class AccountingError(TagifaiError):
    """Rows went missing between steps (scored != written): the job stops before committing anything."""
