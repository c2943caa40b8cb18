"""The served app: our own FastAPI app speaking MLflow's scoring protocol (POST /invocations, GET /ping, /health,
/version), plus /livez, /readyz, /metrics and our contract (docs/openapi.yaml) at /openapi.json and /docs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from mlflow.pyfunc import PyFuncModel
from mlflow.version import VERSION
from starlette.exceptions import HTTPException

from serving import metrics
from serving.errors import handle_error
from serving.middleware import Hardening
from serving.parsing import parse_request
from serving.predictions import add_prediction_routes, prediction_reader
from serving.responses import predictions_json
from serving.scoring import Scorer
from serving.settings import ServeSettings
from serving.timeout import RequestTimeout
from tagifai.errors import TagifaiError

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
JSON = "application/json"


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    version: str


@lru_cache(maxsize=1)
def openapi_spec() -> dict:
    return yaml.safe_load(OPENAPI_PATH.read_text())


def create_scorer(model: PyFuncModel, settings: ServeSettings, identity: ModelIdentity) -> Scorer:
    labels = {"model_name": identity.name, "model_version": identity.version}
    hits, misses = (metrics.CACHE.labels(result=r, **labels) for r in ("hit", "miss"))
    return Scorer(model, settings.max_rows, settings.max_text_chars, cache_size=settings.cache_size,
                  on_rows=metrics.ROWS.labels(**labels).inc,
                  on_cache_lookups=lambda h, m: (hits.inc(h), misses.inc(m)))


def create_app(model: PyFuncModel, settings: ServeSettings, identity: ModelIdentity) -> Hardening:
    """The ASGI app `tagifai serve` runs: the routes inside the request time limit, inside the middleware."""
    app = create_routes(create_scorer(model, settings, identity), settings, identity)
    return Hardening(RequestTimeout(app, settings.timeout_seconds), settings.max_body_bytes, identity.name,
                     identity.version, body_timeout=settings.timeout_seconds)


def create_routes(scorer: Scorer, settings: ServeSettings, identity: ModelIdentity) -> FastAPI:
    app = FastAPI(title="TagIfAI scoring API")
    app.openapi = openapi_spec  # our contract (docs/openapi.yaml) at /openapi.json and /docs
    for error in (TagifaiError, HTTPException, RequestValidationError, Exception):
        app.add_exception_handler(error, handle_error)

    def score(body: bytes, content_type: str | None) -> str:
        parsed = parse_request(body, content_type, settings.max_rows, settings.max_body_bytes)
        return predictions_json(scorer.score(parsed.data, parsed.params))

    @app.post("/invocations")
    async def invocations(request: Request):
        answer = await asyncio.to_thread(score, await request.body(), request.headers.get("content-type"))
        return Response(answer, media_type=JSON)

    add_health_routes(app, identity)
    add_prediction_routes(app, prediction_reader(settings.prediction_store), lambda: (identity.name, identity.version))
    return app


def add_health_routes(app: FastAPI, identity: ModelIdentity) -> None:
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
        return JSONResponse({"status": "ready", "model_name": identity.name, "model_version": identity.version})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics():
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)
