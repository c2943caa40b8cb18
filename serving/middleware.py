"""One ASGI middleware around the scoring app: request ids, model headers, the body's size and time limits,
metrics and a structured access log. Pure ASGI (no BaseHTTPMiddleware) to keep per-request cost low.
Responses pass through untouched; the errors raised here get their body from serving.errors, like the app's."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time

from serving import metrics
from serving.errors import BodyTimeoutError, send_error
from serving.logs import REQUEST_ID, BufferedLines
from serving.routing import Router
from serving.served import SERVED
from tagifai.errors import InputTooLargeError, TagifaiError

access_log = logging.getLogger("tagifai.access")
logger = logging.getLogger(__name__)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TIMING_KEY = "tagifai.timing"  # scope key: /invocations' stage -> seconds, filled by the route
STARTED_KEY = "tagifai.started"  # scope key: the request's perf_counter() start (the inference log's latency)
STAGES = metrics.STAGES
_timeout = getattr(asyncio, "timeout", None)  # Python >= 3.11: a timer on this task (wait_for makes a task)


def server_timing(timing: dict) -> bytes:
    """The Server-Timing header: the stages the request reached, in ms."""
    return ", ".join(f"{stage};dur={timing[stage] * 1000:.3f}" for stage in STAGES if stage in timing).encode()


def _header_bytes(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def header(scope, name: bytes) -> str | None:
    """A request header's value (latin-1, as HTTP sends it), or None."""
    value = _header_bytes(scope, name)
    return None if value is None else value.decode("latin-1")


def request_id_of(scope) -> str:
    """The caller's X-Request-ID if it is safe to echo and log, else a fresh one."""
    incoming = header(scope, b"x-request-id")
    # 128 random bits as 32 hex digits, like uuid4().hex, without a getrandom() call per request (an id needs to be
    # unique, not secret; `random` is reseeded in every forked worker)
    return incoming if incoming and _SAFE_ID.match(incoming) else f"{random.getrandbits(128):032x}"


class Hardening:
    def __init__(self, app, router: Router, max_body_bytes: int, body_timeout: float | None = None):
        self.app = app
        self.router = router
        self.max_body_bytes = max_body_bytes
        # The body is read here, before the app's own time limit starts: a client trickling it in would
        # otherwise hold its connection (and up to max_body_bytes) for ever.
        self.body_timeout = body_timeout
        self.access_lines = BufferedLines(access_log)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":  # the server is stopping once the app hears so: write what is left
            return await self.app(scope, self._flushing_at_shutdown(receive), send)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        request_id = request_id_of(scope)
        REQUEST_ID.set(request_id)
        # This request's version, to its end, whatever a swap does meanwhile. Only predictions are split between
        # champion and challenger: /args, /performance and the rest describe the champion.
        if scope["path"] == "/invocations":
            served = self.router.pick(_header_bytes(scope, b"x-routing-key"))
        else:
            served = self.router.champion.current
        SERVED.set(served)
        series = metrics.request_series(served.labels)
        headers = [(b"x-request-id", request_id.encode()), *served.headers]
        state = {"status": 500, "sent": False, "bytes_in": 0, "bytes_out": 0, "done": None}
        timing = None
        if scope["path"] == "/invocations":
            timing = scope[TIMING_KEY] = {}
            scope[STARTED_KEY] = started

        async def guarded_send(message):  # our headers on every response; latency ends with its last byte
            if message["type"] == "http.response.start":
                state.update(status=message["status"], sent=True)
                extra = headers
                if timing:  # the stages the route reached (none: refused here, before the app ran)
                    extra = [*headers, (b"server-timing", server_timing(timing))]
                    series.observe_stages(timing)
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            elif message["type"] == "http.response.body":
                state["bytes_out"] += len(message.get("body", b""))
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                state["done"] = time.perf_counter()

        try:
            body = await self._read_body(scope, receive, state)
            await self.app(scope, _replay(body, receive), guarded_send)
        except Exception as exc:  # a limit (before the app ran), or a fault the app's handler answered 500 already
            if not isinstance(exc, TagifaiError):
                logger.exception("unhandled error, request_id=%s", request_id)
            if not state["sent"]:
                await send_error(guarded_send, exc, request_id)
        finally:
            self._observe(scope, state, request_id, series, (state["done"] or time.perf_counter()) - started)

    async def _read_body(self, scope, receive, state) -> bytes:
        """The whole body, within the size and time limits (InputTooLargeError, BodyTimeoutError)."""
        length = header(scope, b"content-length")
        if length and length.isdigit() and int(length) > self.max_body_bytes:
            raise InputTooLargeError(f"request body is {length} bytes; the limit is {self.max_body_bytes}")
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return b""
        try:
            if _timeout is None:  # Python 3.10
                return await asyncio.wait_for(self._read_chunks(receive, state), self.body_timeout)
            async with _timeout(self.body_timeout):
                return await self._read_chunks(receive, state)
        except (TimeoutError, asyncio.TimeoutError):
            raise BodyTimeoutError(f"request body not received within {self.body_timeout:g} s") from None

    async def _read_chunks(self, receive, state) -> bytes:
        """Chunked bodies have no Content-Length to check: count as they come."""
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            state["bytes_in"] += len(chunks[-1])
            if state["bytes_in"] > self.max_body_bytes:
                raise InputTooLargeError(f"request body exceeds the limit of {self.max_body_bytes} bytes")
            more = message.get("more_body", False)
        return b"".join(chunks)

    def _flushing_at_shutdown(self, receive):
        async def lifespan_receive():
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self.access_lines.flush()
            return message

        return lifespan_receive

    def _observe(self, scope, state, request_id: str, series: metrics.RequestSeries, elapsed: float) -> None:
        series.observe(metrics.path_label(scope["path"]), state["status"], elapsed)
        if not access_log.isEnabledFor(logging.INFO):
            return
        labels = series.labels
        self.access_lines.add(json.dumps({
            "request_id": request_id, "method": scope["method"], "path": scope["path"][:200],
            "status": state["status"], "duration_ms": round(elapsed * 1000, 3),
            "model_version": labels["model_version"], "role": labels["role"], "token": scope.get("tagifai.token", "-"),
            "bytes_in": state["bytes_in"], "bytes_out": state["bytes_out"],
            "client": (scope.get("client") or ("-",))[0],
        }))


def _replay(body: bytes, receive):
    """A receive() that hands the app the body already read, then waits for the disconnect as the server would."""
    replayed = False

    async def replay():
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay

