"""Stored predictions over HTTP: GET /predictions/{id} and GET /predictions?ids=1,2,3 (`tagifai serve
--prediction-store URI`), answered from the store `tagifai batch-score` writes.

The rules are batch.lookup's, the same as `tagifai lookup`: the prediction of the version served *now* is
current; another version's is stale and refused unless `allow_stale=true` (then marked `"stale": true`). "Now"
is asked of `current_version()` on every request, so a server that swaps to a new champion answers for the new
version from that moment. The store is read through one pooled engine per worker process; a store that is down
answers 503 (JSON) and leaves /invocations alone. Without a store the routes exist and answer 404
`NO_PREDICTION_STORE`, saying how to configure one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from batch.errors import PredictionNotFoundError, StalePredictionError
from batch.inputs import normalise_id
from batch.lookup import MAX_IDS, LookupResult, PredictionReader, answer
from serving.errors import NoPredictionStoreError
from tagifai.errors import InputTooLargeError, InvalidUsageError

MAX_ID_CHARS = 256
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def prediction_reader(store_url: str | None) -> PredictionReader | None:
    """The reader for `--prediction-store` (None: no store). A URL that can never work fails here, at start;
    no connection is opened until a worker answers its first look-up."""
    return PredictionReader(store_url) if store_url else None


def _allow_stale(request: Request) -> bool:
    raw = request.query_params.get("allow_stale")
    if raw is None:
        return False
    if raw.strip().lower() not in _BOOLS:
        raise InvalidUsageError(f"query parameter 'allow_stale' must be true or false, got {raw[:40]!r}")
    return _BOOLS[raw.strip().lower()]


def _key(raw: str, where: str) -> str:
    if len(raw) > MAX_ID_CHARS:
        raise InvalidUsageError(f"{where}: an id is at most {MAX_ID_CHARS} characters, got {len(raw)}")
    key = normalise_id(raw)
    if key is None:
        raise InvalidUsageError(f"{where}: an id must not be blank")
    return key


def _ids(request: Request) -> list[str]:
    raw = request.query_params.get("ids")
    if raw is None:
        raise InvalidUsageError("query parameter 'ids' is required: GET /predictions?ids=1,2,3")
    parts = raw.split(",")
    if len(parts) > MAX_IDS:
        raise InputTooLargeError(f"query parameter 'ids' has {len(parts)} ids; the limit is {MAX_IDS}")
    return [_key(part, f"query parameter 'ids', item {n}") for n, part in enumerate(parts, 1)]


def _current(current_version: Callable[[], tuple[str, str]]) -> tuple[str, int | None]:
    name, version = current_version()
    version = str(version)
    return name, int(version) if version.isdigit() else None  # an unregistered model: nothing stored is current


def _item(result: LookupResult) -> dict:
    p = result.prediction
    return {"id": p.id, "predicted_tag": p.predicted_tag, "confidence": p.confidence, "model_name": p.model_name,
            "model_version": p.model_version, "scored_at": p.scored_at.isoformat(timespec="seconds") + "Z",
            "stale": result.stale, "current_version": result.current_version}


def add_prediction_routes(app: FastAPI, reader: PredictionReader | None,
                          current_version: Callable[[], tuple[str, str]]) -> None:
    """GET /predictions/{id} and GET /predictions?ids=... on `app`. `current_version()` -> (model name, version)
    of the version served now: called per request, never cached here."""

    def store() -> PredictionReader:
        if reader is None:
            raise NoPredictionStoreError()
        return reader

    # The store is read in a thread (as /invocations predicts in one): a slow or unreachable store never blocks
    # the event loop. asyncio.to_thread, not a plain `def` route: FastAPI's anyio hop costs more per request.
    @app.get("/predictions/{id}")
    async def prediction(id: str, request: Request):
        allow_stale = _allow_stale(request)
        key = _key(id, "path parameter 'id'")
        name, version = _current(current_version)
        result = await asyncio.to_thread(store().find, key, name, version)
        answer(result, allow_stale, "allow_stale=true")
        return JSONResponse(_item(result))

    @app.get("/predictions")
    async def predictions(request: Request):
        allow_stale = _allow_stale(request)
        ids = _ids(request)
        name, version = _current(current_version)
        found, missing, stale = [], [], []
        for result in await asyncio.to_thread(store().find_many, ids, name, version):
            try:
                answer(result, allow_stale)  # the single look-up's rule, id by id
            except StalePredictionError:
                stale.append(result.id)
            except PredictionNotFoundError:
                missing.append(result.id)
            else:
                found.append(_item(result))
        return JSONResponse({"model_name": name, "current_version": version, "predictions": found,
                             "missing": missing, "stale_only": stale})

