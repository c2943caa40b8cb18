"""The served app: our own FastAPI app speaking MLflow's scoring protocol (POST /invocations, GET /ping, /health,
/version), the served model as resources (/, /models, /args, /performance), /livez, /readyz, /metrics, and our
contract (docs/openapi.yaml) at /openapi.json and /docs (Swagger UI served from a package: no CDN)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import yaml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from mlflow.pyfunc import PyFuncModel
from mlflow.version import VERSION
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

from serving import metrics
from serving.auth import TokenAuth
from serving.errors import handle_error
from serving.middleware import TIMING_KEY, Hardening
from serving.parsing import parse_request
from serving.resources import SERVICE, add_resource_routes
from serving.predictions import add_prediction_routes, prediction_reader
from serving.responses import predictions_json
from serving.scoring import Scorer
from serving.routing import Router
from serving.served import SERVED, ModelIdentity, ModelSlot, ServedVersion
from serving.settings import ServeSettings
from serving.shadow import Shadow
from serving.status import summary
from serving.timeout import RequestTimeout
from tagifai.errors import TagifaiError

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
JSON = "application/json"
INLINE_BODY_BYTES = 16_384  # batched: bodies up to this size are parsed on the event loop
INLINE_ROWS = 64  # batched: answers up to this many rows are written on the event loop


@lru_cache(maxsize=1)
def openapi_spec() -> dict:
    return yaml.safe_load(OPENAPI_PATH.read_text())


def create_scorer(model: PyFuncModel, settings: ServeSettings, identity: ModelIdentity,
                  role: str = "champion") -> Scorer:
    labels = {"model_name": identity.name, "model_version": identity.version, "role": role}
    hits, misses = (metrics.CACHE.labels(result=r, **labels) for r in ("hit", "miss"))
    return Scorer(model, settings.max_rows, settings.max_text_chars, cache_size=settings.cache_size,
                  on_rows=metrics.answer_counter(labels), on_cache_lookups=lambda h, m: (hits.inc(h), misses.inc(m)),
                  max_batch_size=settings.max_batch_size, max_batch_wait_ms=settings.max_batch_wait_ms)


def serve_one(model: PyFuncModel, settings: ServeSettings, identity: ModelIdentity) -> Router:
    """`model` as the only version, the champion (for in-process apps: tests, benchmarks)."""
    return Router(ModelSlot(ServedVersion(identity, create_scorer(model, settings, identity))))


def create_app(router: Router, settings: ServeSettings, models: Callable[[], dict] | None = None,
               tokens: dict[bytes, str] | None = None, shadow: Shadow | None = None) -> Hardening:
    """The ASGI app `tagifai serve` runs: the routes inside the request time limit, inside the bearer-token
    check (when `tokens`), inside the middleware. `models()` answers GET /models (default: the champion alone);
    `shadow` scores the challenger's copy of every answer in shadow mode."""
    app = create_routes(router, settings, models or (lambda: summary([_state(router.champion)], {})), shadow)
    inner = RequestTimeout(app, settings.timeout_seconds)
    if tokens:
        inner = TokenAuth(inner, tokens)
    return Hardening(inner, router, settings.max_body_bytes, body_timeout=settings.timeout_seconds)


def create_routes(router: Router, settings: ServeSettings, models: Callable[[], dict],
                  shadow: Shadow | None = None) -> FastAPI:
    slot = router.champion
    app = FastAPIOffline(title=SERVICE, redoc_url=None, static_url="/docs-assets")
    app.openapi = openapi_spec  # our contract (docs/openapi.yaml) at /openapi.json and /docs
    for error in (TagifaiError, HTTPException, RequestValidationError, Exception):
        app.add_exception_handler(error, handle_error)

    def prepare(served: ServedVersion, body: bytes, content_type: str | None, timing: dict):
        started = time.perf_counter()
        parsed = parse_request(body, content_type, settings.max_rows, settings.max_body_bytes)
        parsed_at = time.perf_counter()
        timing["parse"] = parsed_at - started
        texts = served.scorer.prepare(parsed.data, parsed.params)
        timing["validate"] = time.perf_counter() - parsed_at
        return texts, parsed.params

    def serialize(rows, timing: dict) -> str:
        started = time.perf_counter()
        answer = predictions_json(rows)
        timing["serialize"] = time.perf_counter() - started
        return answer

    def score(served: ServedVersion, body: bytes, content_type: str | None, timing: dict, called: float):
        timing["queue"] = time.perf_counter() - called  # waiting for a thread
        texts, params = prepare(served, body, content_type, timing)
        started = time.perf_counter()
        rows = served.scorer.predict(texts, params)
        timing["predict"] = time.perf_counter() - started
        return serialize(rows, timing), (texts, params, rows)

    async def batched(served: ServedVersion, body: bytes, content_type: str | None, timing: dict):
        batcher = served.scorer.batcher()
        batcher.expect()
        try:  # small requests are parsed on the loop (a thread hop costs more than they do); big ones in a thread
            if len(body) <= INLINE_BODY_BYTES:
                texts, params = prepare(served, body, content_type, timing)
            else:
                texts, params = await asyncio.to_thread(prepare, served, body, content_type, timing)
        except BaseException:
            batcher.withdraw()
            raise
        rows, pending = await batcher.submit(texts, params)
        timing["queue"], timing["predict"] = pending.started - pending.enqueued, pending.predict_seconds
        if len(texts) <= INLINE_ROWS:
            answer = serialize(rows, timing)
        else:
            answer = await asyncio.to_thread(serialize, rows, timing)
        return answer, (texts, params, rows)

    @app.post("/invocations")
    async def invocations(request: Request):
        served = SERVED.get(slot.current)  # the middleware's pick, or the slot's for the bare routes
        timing = request.scope.get(TIMING_KEY)
        if timing is None:  # the bare routes, without the middleware
            timing = {}
        body, content_type = await request.body(), request.headers.get("content-type")
        if served.scorer.batching:
            answer, scored = await batched(served, body, content_type, timing)
        else:
            answer, scored = await asyncio.to_thread(score, served, body, content_type, timing, time.perf_counter())
        challenger = router.shadowing() if shadow is not None and served.role == "champion" else None
        # After the answer is sent: the challenger never delays it.
        later = BackgroundTask(shadow.submit, challenger, *scored) if challenger is not None else None
        return Response(answer, media_type=JSON, background=later)

    add_resource_routes(app, models)
    add_health_routes(app, slot)
    add_prediction_routes(app, prediction_reader(settings.prediction_store),
                          lambda: (slot.current.identity.name, slot.current.identity.version))  # the champion now
    return app


def add_health_routes(app: FastAPI, slot: ModelSlot) -> None:
    async def ping():
        return Response("\n", media_type=JSON)

    app.get("/ping")(ping)
    app.get("/health")(ping)

    @app.get("/version")
    async def version():
        return Response(VERSION, media_type=JSON)

    @app.get("/livez", include_in_schema=False)
    async def livez():
        return JSONResponse({"status": "alive"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz():
        identity = SERVED.get(slot.current).identity
        return JSONResponse({"status": "ready", "model_name": identity.name, "model_version": identity.version})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics():
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)


def _state(slot: ModelSlot) -> dict:
    return {"worker": 0, "pid": os.getpid(), "serving": slot.current.describe()}
