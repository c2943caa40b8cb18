"""The served model as resources: GET / (the service), /models (what serves now and the last reload), /args,
/args/{arg} and /performance (the served version's run, read when it was loaded and swapped with it)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from registry.metadata import arg_value, performance_part
from serving.served import SERVED, ServedVersion
from tagifai.errors import TagifaiError

SERVICE = "TagIfAI scoring API"


class MetadataMissingError(TagifaiError):
    """The served version has no run metadata to show (not logged from a run, or its run cannot be read)."""

    http_status = 404
    error_code = "RESOURCE_DOES_NOT_EXIST"


def add_resource_routes(app: FastAPI, models: Callable[[], dict]) -> None:
    """`models()` is GET /models's answer (the same from every worker)."""

    @app.get("/")
    async def index():
        served = SERVED.get()
        return JSONResponse({"service": SERVICE, "model_name": served.identity.name,
                             "versions": [m["version"] for m in models()["models"]],
                             "links": {"docs": "/docs", "openapi": "/openapi.json", "models": "/models",
                                       "args": "/args", "performance": "/performance", "health": "/health"}})

    @app.get("/models")
    async def served_models():
        return JSONResponse(models())

    @app.get("/args")
    async def all_args():
        return JSONResponse({"args": _args(SERVED.get())})

    @app.get("/args/{arg}")
    async def one_arg(arg: str):
        return JSONResponse({arg: arg_value(_args(SERVED.get()), arg)})

    @app.get("/performance")
    async def performance(filter: str | None = None):  # noqa: A002 - the query parameter's public name
        served = SERVED.get()
        document = served.metadata.performance
        if document is None:
            raise MetadataMissingError(f"version {served.identity.version} has no performance to show: "
                                       f"{served.metadata.missing}")
        return JSONResponse({"performance": performance_part(document, filter)})


def _args(served: ServedVersion) -> dict:
    if served.metadata.args is None:
        raise MetadataMissingError(f"version {served.identity.version} has no arguments to show: "
                                   f"{served.metadata.missing}")
    return served.metadata.args
