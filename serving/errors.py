"""The server's errors, each carrying its HTTP status and error code, and the one place that turns an error into
the JSON body `{"error_code", "message", "request_id"}` a client receives."""

from __future__ import annotations

import json

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from serving.logs import REQUEST_ID
from tagifai.errors import InvalidUsageError, TagifaiError

MAX_MESSAGE_CHARS = 300
INTERNAL_MESSAGE = "internal error while handling the request; see the server log for this request id"


class InvalidSettingError(InvalidUsageError, ValueError):
    """A server setting (flag or TAGIFAI_SERVE_* variable) is out of range or of the wrong type."""


class ServeError(TagifaiError):
    """The server cannot be started (model URI refused or unresolvable, model files broken, port taken, ...)."""

    http_status = 503
    error_code = "UNAVAILABLE"
    exit_code = 1


class MalformedRequestError(InvalidUsageError):
    """The body cannot be read as a request: not UTF-8, not JSON, not CSV/Parquet, or not one of the formats."""

    error_code = "BAD_REQUEST"


class UnsupportedMediaTypeError(InvalidUsageError):
    """A Content-Type (or charset, or content-type parameter) the server does not read."""

    http_status = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"


class MissingContentTypeError(UnsupportedMediaTypeError):
    def __init__(self):
        super().__init__("the Content-Type header is missing; send application/json, text/csv or "
                         "application/vnd.apache.parquet")


class BodyTimeoutError(InvalidUsageError):
    """The client did not send the whole body in time."""

    http_status = 408
    error_code = "REQUEST_TIMEOUT"


class RequestTimeoutError(TagifaiError):
    """The server did not answer within its time limit."""

    http_status = 504
    error_code = "TIMEOUT"
    public_message = "request took longer than the server's time limit"

    def __init__(self):
        super().__init__(self.public_message)


class NoPredictionStoreError(TagifaiError):
    """GET /predictions on a server started without `--prediction-store`."""

    http_status = 404
    error_code = "NO_PREDICTION_STORE"

    def __init__(self):
        super().__init__("this server has no prediction store: start it with `tagifai serve --prediction-store "
                         "URI` (or TAGIFAI_SERVE_PREDICTION_STORE) to answer stored predictions")


class HTTPError(TagifaiError):
    """An HTTP-level refusal from the framework (unknown path, wrong method, ...), with its status."""

    CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 422: "BAD_REQUEST"}

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.http_status = status
        self.error_code = self.CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")


def json_type(value) -> str:
    """How a JSON value's type reads in a message (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def bounded(message: str) -> str:
    """One line, at most MAX_MESSAGE_CHARS."""
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 3] + "..."


def error_response(exc: BaseException, request_id: str) -> tuple[int, bytes]:
    """(status, JSON body) for any exception: a TagifaiError says what it is; anything else is a generic 500
    (its detail stays in the server log)."""
    if isinstance(exc, TagifaiError):
        status, code, message = exc.http_status, exc.error_code, bounded(str(exc)) or exc.error_code
    else:
        status, code, message = 500, "INTERNAL_ERROR", INTERNAL_MESSAGE
    if status >= 500:
        # A 5xx's own text may name internals (hosts, paths); an error may carry a fixed one made to be shown.
        message = getattr(exc, "public_message", None) or INTERNAL_MESSAGE
    body = json.dumps({"error_code": code, "message": message, "request_id": request_id}).encode()
    return status, body


async def send_error(send, exc: BaseException, request_id: str, headers=()) -> None:
    """The JSON error response for `exc`, sent as raw ASGI messages: for the middlewares that answer before
    (or instead of) the app."""
    status, body = error_response(exc, request_id)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def handle_error(request, exc: Exception):
    """The app's exception handler: our errors, the framework's HTTP errors and anything unexpected."""
    if isinstance(exc, HTTPException):
        exc = HTTPError(exc.status_code, str(exc.detail))
    elif isinstance(exc, RequestValidationError):
        exc = HTTPError(422, "invalid request")  # the validation details would echo the input
    status, body = error_response(exc, REQUEST_ID.get())
    return Response(body, status_code=status, media_type="application/json")
