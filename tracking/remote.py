"""A remote tracking server's failures, turned into clear errors in this one place.

MLflow reports them as an `MlflowException` whose text holds an HTTP status and an endpoint (401, 403, "too
many 500 error responses", "Max retries exceeded ... Connection refused"), or as a `requests` exception.
`server_error` maps any of them, anywhere in an exception's cause/context chain, to a `TrackingServerError`
that says who could not do what where, and what to do about it. The CLI's error boundary (app/errors.py) and run logging (tracking/runs.py) call it.
"""

from __future__ import annotations

import os
import re

from tagifai import config
from tracking.errors import (
    ArtifactStoreError,
    AuthenticationError,
    PermissionDeniedError,
    TrackingServerError,
    TrackingServerUnreachableError,
)

_ENDPOINT = re.compile(r"(/api/\d\.\d/[\w\-./%]+)")
_STATUS = re.compile(
    r"error code (\d{3})|too many (\d{3}) error responses|status code (\d{3})|\b(\d{3}) (?:Client|Server) Error")
_UNREACHABLE = ("NewConnectionError", "Connection refused", "ConnectTimeout", "ConnectionError",
                "Name or service not known", "Temporary failure in name resolution", "No route to host",
                "RemoteDisconnected", "Connection aborted", "timed out", "ReadTimeout")
_ARTIFACT_RUN = re.compile(r"/mlflow-artifacts/artifacts/\d+/([0-9a-f]{32})/artifacts/(\S+?)(?:\s|\)|'|$)")

# What an endpoint lets a user do, for "user X cannot <action>". Longest match wins; unknown ones are named as is.
_ACTIONS = {
    "mlflow/model-versions/create": "register a model version",
    "mlflow/model-versions/set-tag": "tag a model version",
    "mlflow/model-versions/delete-tag": "untag a model version",
    "mlflow/model-versions/transition-stage": "change a model version's stage",
    "mlflow/model-versions": "read or change model versions",
    "mlflow/registered-models/create": "create a registered model",
    "mlflow/registered-models/alias": "read or move a registered model's aliases",
    "mlflow/registered-models": "read or change registered models",
    "mlflow/experiments/create": "create an experiment",
    "mlflow/experiments": "read or change experiments",
    "mlflow/runs/create": "create a run in this experiment",
    "mlflow/runs": "read or write runs of this experiment",
    "mlflow/logged-models": "log a model in this experiment",
    "mlflow-artifacts": "read or write artifacts of this experiment",
    "mlflow/users": "manage users (admins only)",
    "mlflow/roles": "manage roles (admins only)",
}


def _chain(exc: BaseException):
    """exc, then its causes and contexts (`raise X from None` keeps the original in __context__)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _status(text: str, error_code: str | None) -> int | None:
    if error_code == "UNAUTHENTICATED":
        return 401
    if error_code == "PERMISSION_DENIED":
        return 403
    match = _STATUS.search(text)
    return int(next(g for g in match.groups() if g)) if match else None


def _action(endpoint: str | None) -> str:
    if not endpoint:
        return "do this"
    hits = [key for key in _ACTIONS if key in endpoint]
    return _ACTIONS[max(hits, key=len)] if hits else f"call {endpoint}"


def _user() -> str | None:
    return os.environ.get("MLFLOW_TRACKING_USERNAME") or None


def _describe(exc: BaseException, server: str) -> TrackingServerError | None:
    text = str(exc)
    mlflow_or_requests = getattr(exc, "error_code", None) is not None or "requests" in type(exc).__module__
    if not mlflow_or_requests and "API request" not in text:
        return None
    if getattr(exc, "json", None) is not None:
        # RestException: the server answered with an MLflow error body (e.g. RESOURCE_DOES_NOT_EXIST, or its
        # database's "Connection refused"): only 401/403 are ours; the rest is the caller's to explain.
        if exc.error_code not in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            return None
    status = _status(text, getattr(exc, "error_code", None))
    endpoint_match = _ENDPOINT.search(text)
    endpoint = endpoint_match.group(1) if endpoint_match else None
    where = f" ({status} from {endpoint})" if endpoint and status else ""
    user = _user()
    if status == 401:
        if user is None:
            return AuthenticationError(
                f"authentication required: the tracking server {server} needs a login{where}; "
                "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
        return AuthenticationError(
            f"authentication failed: the tracking server {server} rejected the password of user '{user}'{where}; "
            "check MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
    if status == 403:
        who = f"user '{user}'" if user else "this user"
        return PermissionDeniedError(
            f"permission denied: {who} cannot {_action(endpoint)} on the tracking server {server}{where}; "
            "nothing was changed by this request. An admin grants access with "
            f"`tagifai users add {user or 'USER'} --role trainer` (or in the MLflow UI)")
    if status is not None and status >= 500 and endpoint and "/mlflow-artifacts/" in endpoint:
        return _artifact_store_error(text, server, status)
    if status is not None and status >= 500:
        return TrackingServerError(
            f"the tracking server {server} failed: HTTP {status} from {endpoint or 'its API'} even after retries; "
            "its log says why (is its database up?)")
    if status is None and any(marker in text for marker in _UNREACHABLE):
        cause = "timed out" if "timed out" in text or "Timeout" in text else "refused or unreachable"
        from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES

        retries = MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()
        return TrackingServerUnreachableError(
            f"cannot reach the tracking server {server}: connection {cause} (after {retries} retries). "
            "Is it running, and is MLFLOW_TRACKING_URI right?")
    return None


def _artifact_store_error(text: str, server: str, status: int) -> ArtifactStoreError:
    found = _ARTIFACT_RUN.search(text)
    what = f" ('{found.group(2)}' of run {found.group(1)})" if found else ""
    destination = os.environ.get("MLFLOW_ARTIFACTS_DESTINATION")
    store = f"its artifact store {destination or '(--artifacts-destination, e.g. S3)'}"
    return ArtifactStoreError(
        f"artifact store unavailable: the tracking server {server} could not reach {store}: HTTP {status} for "
        f"mlflow-artifacts:/ even after retries{what}. Check the S3 endpoint and bucket the server proxies to "
        "(its log names the error)")


def server_error(exc: BaseException) -> TrackingServerError | None:
    """The clear error for a tracking-server failure anywhere in `exc`'s chain, else None (not ours to explain)."""
    server = config.tracking_uri()
    for link in _chain(exc):
        if isinstance(link, TrackingServerError):
            return link
        if not server.startswith(("http://", "https://")):
            continue
        described = _describe(link, server)
        if described is not None:
            return described
    return None
