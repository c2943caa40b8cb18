"""POST /invocations as a plain ASGI app: parse, validate, (batch,) predict, serialise, answer.

It is the route FastAPI declares for /invocations, and `InvocationsFirst` also hands it POST /invocations
directly, ahead of FastAPI's own stack (its error, telemetry and body-limit middlewares, exception middleware,
exit stack and router cost more than parsing and scoring a one-row request): under many one-row requests that
stack, not the model, was what bounded a worker. The other routes, and /invocations with any other method (405),
go through FastAPI as before. Errors get the same JSON bodies as the app's exception handler gives.
"""

from __future__ import annotations

import asyncio
import time

from serving.errors import send_error
from serving.logs import REQUEST_ID
from serving.inference_log import InferenceLog
from serving.middleware import STARTED_KEY, TIMING_KEY, header
from serving.parsing import parse_request
from serving.responses import predictions_json
from serving.routing import Router
from serving.served import SERVED, ModelSlot, ServedVersion
from serving.settings import ServeSettings
from serving.shadow import Shadow
from tagifai.errors import TagifaiError

PATH = "/invocations"
INLINE_BODY_BYTES = 16_384  # batched: bodies up to this size are parsed on the event loop
INLINE_ROWS = 64  # batched: answers up to this many rows are written on the event loop
JSON_HEADER = (b"content-type", b"application/json")


class Invocations:
    def __init__(self, router: Router, settings: ServeSettings, shadow: Shadow | None = None,
                 inference_log: InferenceLog | None = None):
        self.router, self.slot, self.settings, self.shadow = router, router.champion, settings, shadow
        self.log = inference_log

    async def __call__(self, scope, receive, send) -> None:
        started = scope.get(STARTED_KEY) or time.perf_counter()
        served = SERVED.get(self.slot.current)  # the middleware's pick, or the slot's for the bare routes
        timing = scope.get(TIMING_KEY)
        if timing is None:  # the bare routes, without the middleware
            timing = {}
        try:
            body = await read_body(receive)
            content_type = header(scope, b"content-type")
            if served.scorer.batching:
                answer, scored = await self.batched(served, body, content_type, timing)
            else:
                answer, scored = await asyncio.to_thread(self.score, served, body, content_type, timing,
                                                         time.perf_counter())
        except Exception as exc:  # noqa: BLE001 - answered like the app's exception handler answers
            await send_error(send, exc, REQUEST_ID.get())
            if not isinstance(exc, TagifaiError):
                raise  # a fault: the middleware logs it (with its traceback, in the server log only)
            return
        data = answer.encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(data)).encode()), JSON_HEADER]})
        await send({"type": "http.response.body", "body": data})
        # After the answer, so neither delays it; each only queues what is at hand.
        if self.log is not None:
            self.log.add(served, scored[0], scored[2], REQUEST_ID.get(), time.perf_counter() - started)
        if self.shadow is not None and served.role == "champion":
            challenger = self.router.shadowing()
            if challenger is not None:
                self.shadow.submit(challenger, *scored, request_id=REQUEST_ID.get())

    def prepare(self, served: ServedVersion, body: bytes, content_type: str | None, timing: dict):
        started = time.perf_counter()
        parsed = parse_request(body, content_type, self.settings.max_rows, self.settings.max_body_bytes)
        parsed_at = time.perf_counter()
        timing["parse"] = parsed_at - started
        texts = served.scorer.prepare(parsed.data, parsed.params)
        timing["validate"] = time.perf_counter() - parsed_at
        return texts, parsed.params

    @staticmethod
    def serialize(rows, timing: dict) -> str:
        started = time.perf_counter()
        answer = predictions_json(rows)
        timing["serialize"] = time.perf_counter() - started
        return answer

    def score(self, served: ServedVersion, body: bytes, content_type: str | None, timing: dict, called: float):
        timing["queue"] = time.perf_counter() - called  # waiting for a thread
        texts, params = self.prepare(served, body, content_type, timing)
        started = time.perf_counter()
        rows = served.scorer.predict(texts, params)
        timing["predict"] = time.perf_counter() - started
        return self.serialize(rows, timing), (texts, params, rows)

    async def batched(self, served: ServedVersion, body: bytes, content_type: str | None, timing: dict):
        batcher = served.scorer.batcher()
        batcher.expect()
        try:  # small requests are parsed on the loop (a thread hop costs more than they do); big ones in a thread
            if len(body) <= INLINE_BODY_BYTES:
                texts, params = self.prepare(served, body, content_type, timing)
            else:
                texts, params = await asyncio.to_thread(self.prepare, served, body, content_type, timing)
        except BaseException:
            batcher.withdraw()
            raise
        rows, pending = await batcher.submit(texts, params)
        timing["queue"], timing["predict"] = pending.started - pending.enqueued, pending.predict_seconds
        if len(texts) <= INLINE_ROWS:
            answer = self.serialize(rows, timing)
        else:
            answer = await asyncio.to_thread(self.serialize, rows, timing)
        return answer, (texts, params, rows)


class InvocationsFirst:
    """POST /invocations straight to `invocations`; everything else to `app` (the FastAPI app)."""

    def __init__(self, invocations: Invocations, app):
        self.invocations, self.app = invocations, app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            return await self.invocations(scope, receive, send)
        return await self.app(scope, receive, send)


async def read_body(receive) -> bytes:
    """The whole body (the middleware has already read it within its limits and replays it in one message)."""
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
    return b"".join(chunks)
