"""Every error the server sends, in one JSON shape; MLflow's messages cleaned of echoed input and traces."""

from __future__ import annotations

import json
import re

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

MAX_MESSAGE_CHARS = 300

# HTTP status -> our error code, for responses that carry none (plain-text 415, 504, FastAPI's 404/405, 408).
STATUS_CODES = {
    400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 408: "REQUEST_TIMEOUT",
    413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE", 422: "BAD_REQUEST", 500: "INTERNAL_ERROR",
    503: "UNAVAILABLE", 504: "TIMEOUT",
}
_PARAM_NAMES = re.compile(r"\('([A-Za-z_][\w.]*)',")
# "..., got <repr of the value sent>": keep a number or a type name (they name the problem), never the text
# or structure the client sent (a repr of a str, list or dict starts with one of these).
_GOT_VALUE = re.compile(r", got (['\"\[{(].*)$", re.DOTALL)
_REPR_TYPES = {"'": "a string", '"': "a string", "[": "an array", "{": "an object", "(": "an array"}


def json_type(value) -> str:
    """How a JSON value's type reads in a message (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


class RequestTooLarge(MlflowException):
    """Too many rows (or too long a text) in one request: 413, like an oversized body."""

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)

    def get_http_status_code(self) -> int:
        return 413


def error_body(status: int, message: str, request_id: str, code: str | None = None) -> bytes:
    code = code or STATUS_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
    return json.dumps({"error_code": code, "message": message, "request_id": request_id}).encode()


def clean_message(message: str) -> str:
    """Keep what went wrong; drop MLflow's repr of the input, the echoed body and anything too long."""
    if message.startswith(("Failed to predict data", "Failed to enforce schema of data")) and "Error: " in message:
        # MLflow prefixes the real error with a repr of the whole input; the last "Error: " is its own.
        message = message.rsplit("Error: ", 1)[1]
    if message.startswith("Invalid parameters found"):
        names = sorted(set(_PARAM_NAMES.findall(message)))
        return f"invalid value for param(s) {', '.join(names) or '?'}: threshold must be a number between 0 and 1"
    if "UnicodeDecodeError" in message:
        return "request body is not valid UTF-8"
    message = message.split("\nInput:", 1)[0].split(" IMPORTANT:", 1)[0]
    if got := _GOT_VALUE.search(message):
        message = message[: got.start()] + ", got " + _REPR_TYPES[got.group(1)[0]]
    if "JSONDecodeError" in message:
        detail = re.search(r"JSONDecodeError\('([^']*)", message)
        message = "request body is not valid JSON" + (f": {detail.group(1)}" if detail else "")
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 3] + "..."


def normalise(status: int, body: bytes, request_id: str) -> bytes:
    """Any error response -> {"error_code", "message", "request_id"}; never a stack trace."""
    code, message = None, ""
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        code = parsed.get("error_code")
        message = parsed.get("message") or parsed.get("detail") or ""
        if not isinstance(message, str):
            message = "invalid request"  # FastAPI validation details would echo the input
    elif body:
        message = body.decode("utf-8", "replace")
    if status == 413:  # one code for every size limit (body, rows, text, Parquet), whoever raised it
        code = "REQUEST_TOO_LARGE"
    if status == 504:
        message = "request took longer than the server's time limit"
    if status >= 500 and status != 504:
        message = "internal error while handling the request; see the server log for this request id"
    return error_body(status, clean_message(message) or STATUS_CODES.get(status, "error"), request_id, code)
