"""One ASGI middleware around MLflow's scoring app: body limit, request ids, model headers, JSON errors,
metrics and a structured access log. Pure ASGI (no BaseHTTPMiddleware) to keep per-request cost low."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

from serving import metrics
from serving.errors import error_body, normalise

access_log = logging.getLogger("tagifai.access")
logger = logging.getLogger(__name__)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The current request's id, for log lines written deeper down (asyncio.to_thread copies the context).
REQUEST_ID: ContextVar[str] = ContextVar("tagifai_request_id", default="-")


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
        state = {"status": 500, "sent": False, "error": None, "bytes_in": 0, "bytes_out": 0, "done": None}
        raw_send = send

        async def send(message):  # latency ends when the last byte is handed over (a 504 leaves work behind)
            await raw_send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                state["done"] = time.perf_counter()

        async def send_json(status: int, body: bytes) -> None:
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
                state["status"] = message["status"]
                if message["status"] >= 400:  # hold it: the body is rewritten into our JSON shape
                    state["error"] = b""
                    return
                message = {**message, "headers": [*message.get("headers", ()), *headers]}
                state["sent"] = True
            elif message["type"] == "http.response.body":
                if state["error"] is not None:
                    state["error"] += message.get("body", b"")
                    if not message.get("more_body"):
                        status, body = state["status"], state["error"]
                        state["error"] = None
                        await send_json(status, normalise(status, body, request_id))
                    return
                state["bytes_out"] += len(message.get("body", b""))
            await send(message)

        try:
            length = _header(scope, b"content-length")
            if length and length.isdigit() and int(length) > self.max_body_bytes:
                message = f"request body is {length} bytes; the limit is {self.max_body_bytes}"
                return await send_json(413, error_body(413, message, request_id))
            try:
                body = await asyncio.wait_for(read_body(), self.body_timeout) \
                    if scope["method"] in ("POST", "PUT", "PATCH") else b""
            except TimeoutError:
                message = f"request body not received within {self.body_timeout:g} s"
                return await send_json(408, error_body(408, message, request_id))
            if body is None:
                message = f"request body exceeds the limit of {self.max_body_bytes} bytes"
                return await send_json(413, error_body(413, message, request_id))
            replayed = False

            async def replay():
                nonlocal replayed
                if replayed:
                    return await receive()  # after the body: wait for disconnect, as the server would
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, guarded_send)
        except Exception:
            logger.exception("unhandled error, request_id=%s", request_id)
            if not state["sent"]:
                message = "internal error while handling the request; see the server log"
                await send_json(500, error_body(500, message, request_id))
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
