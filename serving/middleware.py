"""One ASGI middleware around the scoring app: request ids, model headers, the body's size and time limits,
metrics and a structured access log. Pure ASGI (no BaseHTTPMiddleware) to keep per-request cost low.
Responses pass through untouched; the errors raised here get their body from serving.errors, like the app's."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid

from serving import metrics
from serving.errors import BodyTimeoutError, error_response
from serving.logs import REQUEST_ID
from tagifai.errors import InputTooLargeError

access_log = logging.getLogger("tagifai.access")
logger = logging.getLogger(__name__)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class Hardening:
    def __init__(self, app, max_body_bytes: int, model_name: str, model_version: str,
                 body_timeout: float | None = None):
        self.app = app
        self.max_body_bytes = max_body_bytes
        # The body is read here, before the app's own time limit starts: a client trickling it in would
        # otherwise hold its connection (and up to max_body_bytes) for ever.
        self.body_timeout = body_timeout
        self.labels = {"model_name": model_name, "model_version": model_version}
        self.model_headers = [(b"x-model-name", model_name.encode()), (b"x-model-version", model_version.encode())]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SAFE_ID.match(incoming) else uuid.uuid4().hex
        REQUEST_ID.set(request_id)
        headers = [(b"x-request-id", request_id.encode()), *self.model_headers]
        state = {"status": 500, "sent": False, "bytes_in": 0, "bytes_out": 0, "done": None}
        raw_send = send

        async def send(message):  # latency ends when the last byte is handed over (a 504 leaves work behind)
            await raw_send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                state["done"] = time.perf_counter()

        async def send_error(exc: BaseException) -> None:
            status, body = error_response(exc, request_id)
            await send({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]})
            await send({"type": "http.response.body", "body": body})
            state.update(status=status, sent=True, bytes_out=len(body))

        async def read_body() -> bytes | None:
            """The whole body, or None past the limit (chunked bodies have no Content-Length to check)."""
            chunks, more = [], True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                state["bytes_in"] += len(chunks[-1])
                if state["bytes_in"] > self.max_body_bytes:
                    return None
                more = message.get("more_body", False)
            return b"".join(chunks)

        async def guarded_send(message):
            if message["type"] == "http.response.start":
                state.update(status=message["status"], sent=True)
                message = {**message, "headers": [*message.get("headers", ()), *headers]}
            elif message["type"] == "http.response.body":
                state["bytes_out"] += len(message.get("body", b""))
            await send(message)

        try:
            length = _header(scope, b"content-length")
            if length and length.isdigit() and int(length) > self.max_body_bytes:
                return await send_error(InputTooLargeError(
                    f"request body is {length} bytes; the limit is {self.max_body_bytes}"))
            try:
                body = await asyncio.wait_for(read_body(), self.body_timeout) \
                    if scope["method"] in ("POST", "PUT", "PATCH") else b""
            except TimeoutError:
                return await send_error(BodyTimeoutError(
                    f"request body not received within {self.body_timeout:g} s"))
            if body is None:
                return await send_error(InputTooLargeError(
                    f"request body exceeds the limit of {self.max_body_bytes} bytes"))
            replayed = False

            async def replay():
                nonlocal replayed
                if replayed:
                    return await receive()  # after the body: wait for disconnect, as the server would
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, guarded_send)
        except Exception as exc:  # the app's handler has answered 500 already, unless it never got to
            logger.exception("unhandled error, request_id=%s", request_id)
            if not state["sent"]:
                await send_error(exc)
        finally:
            self._observe(scope, state, request_id, (state["done"] or time.perf_counter()) - started)

    def _observe(self, scope, state, request_id: str, elapsed: float) -> None:
        path = metrics.path_label(scope["path"])
        metrics.REQUESTS.labels(path=path, status=str(state["status"]), **self.labels).inc()
        metrics.LATENCY.labels(path=path, **self.labels).observe(elapsed)
        access_log.info(json.dumps({
            "request_id": request_id, "method": scope["method"], "path": scope["path"][:200],
            "status": state["status"], "duration_ms": round(elapsed * 1000, 3),
            "bytes_in": state["bytes_in"], "bytes_out": state["bytes_out"],
            "client": (scope.get("client") or ("-",))[0],
        }))
