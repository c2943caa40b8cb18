"""Errors defined once. Callers (CLI, pyfunc wrapper) translate them at their own boundary."""


class TagifaiError(Exception):
    """Base class for every error this package raises on purpose."""


class DataValidationError(TagifaiError):
    """The labeled data file breaks a rule (missing column, duplicate id, ...)."""


class InvalidArgsError(TagifaiError):
    """A training argument is unknown or out of range."""


class InvalidInputError(TagifaiError, ValueError):
    """Texts given for prediction break a rule (empty list, missing or non-string text, ...)."""


class RegistryError(TagifaiError):
    """A registry operation cannot be done (no runs, no champion, nothing to roll back to, ...)."""


class PromotionRefusedError(RegistryError):
    """The candidate is worse than the champion (or fails a gate) and --force was not given."""


class UnknownArgError(TagifaiError):
    """`tagifai args NAME` for a NAME the run did not record."""


class TrackingServerError(TagifaiError):
    """A remote tracking server failed a request (see tagifai.remote, which maps its answers to these)."""


class AuthenticationError(TrackingServerError):
    """401: no credentials, or the server rejected them."""


class PermissionDeniedError(TrackingServerError):
    """403: the user is known but lacks the permission for this request."""


class TrackingServerUnreachableError(TrackingServerError):
    """No answer from the tracking server (refused, timed out, unknown host)."""


class ArtifactStoreError(TrackingServerError):
    """The tracking server answered, but the artifact store behind it (e.g. S3) failed."""
