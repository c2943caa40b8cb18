"""Errors of the registry layer (promotion, rollback, aliases, run metadata)."""

from tagifai.errors import InvalidUsageError, TagifaiError


class RegistryError(TagifaiError):
    """A registry operation cannot be done (no runs, no champion, nothing to roll back to, ...)."""

    http_status = 503
    error_code = "REGISTRY_UNAVAILABLE"


class PromotionRefusedError(RegistryError):
    """The candidate is worse than the champion (or fails a gate) and --force was not given."""

    http_status = 409
    error_code = "PROMOTION_REFUSED"


class UnknownArgError(InvalidUsageError):
    """`tagifai args NAME` (GET /args/NAME) for a NAME the run did not record."""

    http_status = 404
    error_code = "RESOURCE_DOES_NOT_EXIST"


class UnknownFilterError(InvalidUsageError):
    """`tagifai performance --filter X` (GET /performance?filter=X) for an X that is not a part of it."""
