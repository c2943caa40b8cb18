"""The served app: MLflow's own scoring app (same /invocations protocol), guarded and hardened."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path

import yaml
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PyFuncModel, scoring_server
from mlflow.utils.proto_json_utils import MlflowInvalidInputException

from serving.errors import RequestTooLarge, json_type
from serving.guard import GuardedModel, keep_json_types
from serving.middleware import REQUEST_ID, Hardening
from serving.timeout import pure_asgi_timeout
from serving.settings import ServeSettings

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    version: str


@lru_cache(maxsize=1)
def openapi_spec() -> dict:
    return yaml.safe_load(OPENAPI_PATH.read_text())


logger = logging.getLogger(__name__)
_mlflow_invocations = scoring_server.invocations
# MLflow's answer when predict raises anything but an MlflowException (it sends 400 + the stack trace).
_UNEXPECTED = "Encountered an unexpected error while evaluating the model"
MISSING_CONTENT_TYPE = ("the Content-Type header is missing; send application/json, text/csv or "
                        "application/vnd.apache.parquet")


def _check_parquet(data: bytes, max_rows: int, max_bytes: int) -> None:
    """A few KB of Parquet can expand to millions of rows or a 50 MB string: check its footer before reading."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(BytesIO(data)).metadata
    except Exception:  # not Parquet at all: MLflow's parser says so
        return
    if meta.num_rows > max_rows:
        raise RequestTooLarge(f"{meta.num_rows} rows in one request; the limit is {max_rows}")
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if size > max_bytes:
        raise RequestTooLarge(f"the Parquet data is {size} bytes uncompressed; the limit is {max_bytes}")


def hardened_invocations(settings: ServeSettings):
    """MLflow's invocations(), with what it lets escape as a 500 answered as the client's error, Parquet bounded
    before it is expanded, and an unexpected model error logged here (with the request id) and answered 500."""

    def invocations(data, content_type, model, input_schema):
        if not (content_type or "").strip():
            return scoring_server.InvocationsResponse(MISSING_CONTENT_TYPE, 415, "text/plain")
        if content_type.split(";", 1)[0].strip().lower() == scoring_server.CONTENT_TYPE_PARQUET:
            _check_parquet(data, settings.max_rows, settings.max_body_bytes)
        try:
            return _mlflow_invocations(data, content_type, model, input_schema)
        except RecursionError:  # json.loads of [[[[...]]]]
            raise MlflowInvalidInputException("The request JSON is nested too deeply") from None
        except ValueError as exc:  # json.loads of an integer literal with more than 4300 digits
            if "integer string conversion" not in str(exc):
                raise
            raise MlflowInvalidInputException("The request JSON has an integer with too many digits") from None
        except MlflowException as exc:
            if not exc.message.startswith(_UNEXPECTED):
                raise
            logger.error("model error, request_id=%s\n%s", REQUEST_ID.get(), exc.json_kwargs.get("stack_trace"))
            raise MlflowException("internal error while scoring", error_code=INTERNAL_ERROR) from None

    return invocations


class RequestShape:
    """Two shapes MLflow passes on as sent, refused here with a message instead of failing deeper down:
    `params` that is not a JSON object, and a table with two columns of the same name (`text` twice).
    (Both belong in GuardedModel/texts_from_input; kept here while those files are being optimised.)"""

    def __init__(self, model):
        self._model = model
        self.metadata = model.metadata

    def predict(self, data, params=None):
        if params is not None and not isinstance(params, dict):
            raise MlflowException(f"'params' must be a JSON object such as {{\"threshold\": 0.5}}, "
                                  f"got {json_type(params)}", error_code=INVALID_PARAMETER_VALUE)
        columns = getattr(data, "columns", None)
        if columns is not None and not columns.is_unique:
            repeated = sorted({str(c) for c in columns[columns.duplicated()]})
            raise MlflowException(f"the input names a column more than once: {', '.join(repeated)[:100]}",
                                  error_code=INVALID_PARAMETER_VALUE)
        return self._model.predict(data, params)


def build_app(model: PyFuncModel, settings: ServeSettings, identity: ModelIdentity):
    from fastapi.responses import JSONResponse, Response

    from serving import metrics

    # MLflow's init() reads its request timeout from the environment.
    os.environ["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = str(settings.timeout_seconds)
    rows = metrics.ROWS.labels(model_name=identity.name, model_version=identity.version)
    keep_json_types()
    hits, misses = (metrics.CACHE.labels(result=r, model_name=identity.name, model_version=identity.version)
                    for r in ("hit", "miss"))
    guarded = GuardedModel(model, settings.max_rows, settings.max_text_chars, on_rows=rows.inc,
                           cache_size=settings.cache_size,
                           on_cache_lookups=lambda h, m: (hits.inc(h), misses.inc(m)))
    scoring_server.invocations = hardened_invocations(settings)  # looked up at call time by the app
    app = scoring_server.init(RequestShape(guarded))
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

    # MLflow's timeout middleware costs a third of a small request's CPU: the same timeout in pure ASGI.
    return Hardening(pure_asgi_timeout(app, settings.timeout_seconds), settings.max_body_bytes, identity.name,
                     identity.version, body_timeout=settings.timeout_seconds)

