"""The served app: MLflow's own scoring app (same /invocations protocol), guarded and hardened."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from mlflow.pyfunc import PyFuncModel, scoring_server

from serving.guard import GuardedModel, keep_json_types
from serving.middleware import Hardening
from serving.settings import ServeSettings

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
MODEL_PATH_ENV = "TAGIFAI_SERVE_MODEL_PATH"
MODEL_NAME_ENV, MODEL_VERSION_ENV = "TAGIFAI_SERVE_MODEL_NAME", "TAGIFAI_SERVE_MODEL_VERSION"


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    version: str


@lru_cache(maxsize=1)
def openapi_spec() -> dict:
    return yaml.safe_load(OPENAPI_PATH.read_text())


def build_app(model: PyFuncModel, settings: ServeSettings, identity: ModelIdentity):
    from fastapi.responses import JSONResponse, Response

    from serving import metrics

    # MLflow's init() reads its request timeout from the environment.
    os.environ["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = str(settings.timeout_seconds)
    rows = metrics.ROWS.labels(model_name=identity.name, model_version=identity.version)
    keep_json_types()
    guarded = GuardedModel(model, settings.max_rows, settings.max_text_chars, on_rows=rows.inc)
    app = scoring_server.init(guarded)
    app.title = "TagIfAI scoring API"
    app.openapi = openapi_spec  # our contract (docs/openapi.yaml) at /openapi.json and /docs

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

    return Hardening(app, settings.max_body_bytes, identity.name, identity.version)


def app_from_env():
    """uvicorn --factory entry for worker processes: the launcher already downloaded and checked the model."""
    import mlflow

    from serving.logs import configure_logging

    configure_logging()
    model = mlflow.pyfunc.load_model(os.environ[MODEL_PATH_ENV])
    identity = ModelIdentity(os.environ[MODEL_NAME_ENV], os.environ[MODEL_VERSION_ENV])
    return build_app(model, ServeSettings(), identity)
