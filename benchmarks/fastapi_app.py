"""The alternative a user would write by hand (benchmark only): FastAPI + pydantic, one /predict route.

The original design's style: a pydantic payload `{"texts": [{"text": ...}, ...]}`, the trained Predictor
loaded once at start-up, a sync route (FastAPI runs it in its thread pool) and a typed response model that
FastAPI validates and serialises with pydantic. The answer has the same rows as `/invocations`:
`{"predictions": [{"input_text", "predicted_tag", "confidence", "probabilities"}, ...]}`.

    BENCH_PREDICTOR_PATH=.../artifacts/predictor.joblib uvicorn benchmarks.fastapi_app:app --workers 2
"""

from __future__ import annotations

import asyncio.base_events
import os
import socket

import joblib
from fastapi import FastAPI
from pydantic import BaseModel, Field

PREDICTOR_PATH_ENV = "BENCH_PREDICTOR_PATH"


class Text(BaseModel):
    text: str = Field(..., min_length=1)


class PredictPayload(BaseModel):
    texts: list[Text] = Field(..., min_length=1)


class Prediction(BaseModel):
    input_text: str
    predicted_tag: str
    confidence: float
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]




def _set_nodelay(sock):
    """With --workers > 1, uvicorn binds its socket with protocol 0 and asyncio then leaves Nagle on (it only
    sets TCP_NODELAY when the protocol reads IPPROTO_TCP): +40 ms per small answer. `tagifai serve` fixes this
    (serving/nodelay.py); the same fix here keeps the comparison about the stacks, not this pitfall."""
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


asyncio.base_events._set_nodelay = _set_nodelay
predictor = joblib.load(os.environ[PREDICTOR_PATH_ENV])
app = FastAPI(title="TagIfAI, hand-written FastAPI app (benchmark)")


@app.get("/ping")
def ping() -> dict:
    return {"status": "ok"}


@app.post("/predict", response_model=PredictResponse)
def predict(payload: PredictPayload) -> dict:
    columns = predictor.predict([item.text for item in payload.texts])
    return {"predictions": [dict(zip(columns, row)) for row in zip(*columns.values())]}
