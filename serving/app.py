"""The served app: our own FastAPI app speaking MLflow's scoring protocol (POST /invocations, GET /ping, /health,
/version), the served model as resources (/, /models, /args, /performance), /livez, /readyz, /metrics, and our
contract (docs/openapi.yaml) at /openapi.json and /docs (Swagger UI served from a package: no CDN)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path

import yaml
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from mlflow.pyfunc import PyFuncModel
from mlflow.version import VERSION
from starlette.exceptions import HTTPException

from serving import metrics
from serving.auth import TokenAuth
from serving.errors import handle_error
from serving.inference_log import InferenceLog
from serving.invocations import PATH, Invocations, InvocationsFirst
from serving.middleware import Hardening
from serving.resources import SERVICE, add_resource_routes
from serving.predictions import add_prediction_routes, prediction_reader
from serving.routing import Router
from serving.scoring import Scorer
from serving.served import SERVED, ModelIdentity, ModelSlot, ServedVersion
from serving.settings import ServeSettings
from serving.shadow import Shadow
from serving.status import summary
from serving.timeout import RequestTimeout
from tagifai.errors import TagifaiError

JSON = "application/json"
OPENAPI_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"


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
               tokens: dict[bytes, str] | None = None, shadow: Shadow | None = None,
               inference_log: InferenceLog | None = None) -> Hardening:
    """The ASGI app `tagifai serve` runs: the routes inside the request time limit, inside the bearer-token
    check (when `tokens`), inside the middleware. `models()` answers GET /models (default: the champion alone);
    `shadow` scores the challenger's copy of every answer in shadow mode; `inference_log` records every scored
    row (its writer is started by the worker, and drained when the app shuts down)."""
    app = create_routes(router, settings, models or (lambda: summary([_state(router.champion)], {})), shadow,
                        inference_log)
    inner = RequestTimeout(app, settings.timeout_seconds)
    if tokens:
        inner = TokenAuth(inner, tokens)
    return Hardening(inner, router, settings.max_body_bytes, body_timeout=settings.timeout_seconds)


def create_routes(router: Router, settings: ServeSettings, models: Callable[[], dict],
                  shadow: Shadow | None = None, inference_log: InferenceLog | None = None) -> InvocationsFirst:
    """The routes: FastAPI's app, with POST /invocations handed to its ASGI handler ahead of it."""
    slot = router.champion
    app = FastAPIOffline(title=SERVICE, redoc_url=None, static_url="/docs-assets", lifespan=draining(inference_log))
    app.openapi = openapi_spec  # our contract (docs/openapi.yaml) at /openapi.json and /docs
    for error in (TagifaiError, HTTPException, RequestValidationError, Exception):
        app.add_exception_handler(error, handle_error)

    invocations = Invocations(router, settings, shadow, inference_log)
    # Declared for FastAPI's routing (405 for another method); POST reaches it first, past FastAPI's stack.
    app.router.add_route(PATH, invocations, methods=["POST"], include_in_schema=False)

    add_resource_routes(app, models)
    add_health_routes(app, slot)
    add_prediction_routes(app, prediction_reader(settings.prediction_store),
                          lambda: (slot.current.identity.name, slot.current.identity.version))  # the champion now
    return InvocationsFirst(invocations, app)


def draining(inference_log: InferenceLog | None):
    """The app's lifespan: at shutdown (SIGTERM, after the in-flight requests), the log writes what is queued."""

    @asynccontextmanager
    async def lifespan(_app):
        yield
        if inference_log is not None:
            await asyncio.to_thread(inference_log.close)

    return lifespan


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
