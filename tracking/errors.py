"""Errors of a remote tracking server, as `tracking.remote.server_error` names them."""

from tagifai.errors import TagifaiError


class TrackingServerError(TagifaiError):
    """A remote tracking server failed a request."""

    http_status = 503
    error_code = "TRACKING_SERVER_UNAVAILABLE"


class AuthenticationError(TrackingServerError):
    """401: no credentials, or the server rejected them."""


class PermissionDeniedError(TrackingServerError):
    """403: the user is known but lacks the permission for this request."""


class TrackingServerUnreachableError(TrackingServerError):
    """No answer from the tracking server (refused, timed out, unknown host)."""


class ArtifactStoreError(TrackingServerError):
    """The tracking server answered, but the artifact store behind it (e.g. S3) failed."""
