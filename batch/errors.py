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
    public_message = "the prediction store cannot be used (see the server log); POST /invocations still answers"


class AccountingError(TagifaiError):
    """Rows went missing between steps (scored != written): the job stops before committing anything."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached right now (down, dropped, refusing connections): 503 to a client.

    A client is told `public_message` (fixed: the driver's own text names hosts, users and databases); the log
    and the CLI get the detail."""

    public_message = "the prediction store is unavailable right now; POST /invocations still answers"


class PredictionNotFoundError(TagifaiError):
    """No prediction is stored for an id (from any version of the model): 404 to a client, exit 1 to a shell."""

    http_status = 404
    error_code = "PREDICTION_NOT_FOUND"
    exit_code = 1


class StalePredictionError(PredictionNotFoundError):
    """Only another version's prediction is stored for an id, and stale answers were not asked for: 404 to a
    client (there is no current one), exit 3 to a shell."""

    error_code = "PREDICTION_STALE"
    exit_code = 3
