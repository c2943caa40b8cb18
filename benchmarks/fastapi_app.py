"""The alternative a user would write by hand (benchmark only): FastAPI + pydantic, one /predict route.

The original design's style: a pydantic payload `{"texts": [{"text": ...}, ...]}`, the trained Predictor
loaded once at start-up, a sync route (FastAPI runs it in its thread pool) and a typed response model that
FastAPI validates and serialises with pydantic. The answer has the same rows as `/invocations`:
`{"predictions": [{"input_text", "predicted_tag", "confidence", "probabilities"}, ...]}`.

    BENCH_PREDICTOR_PATH=.../artifacts/predictor.joblib python -m benchmarks.fastapi_serve --workers 2
"""

from __future__ import annotations

import os

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


predictor = joblib.load(os.environ[PREDICTOR_PATH_ENV])
app = FastAPI(title="TagIfAI, hand-written FastAPI app (benchmark)")


@app.get("/ping")
def ping() -> dict:
    return {"status": "ok"}


@app.post("/predict", response_model=PredictResponse)
def predict(payload: PredictPayload) -> dict:
    columns = predictor.predict([item.text for item in payload.texts])
    return {"predictions": [dict(zip(columns, row)) for row in zip(*columns.values())]}
