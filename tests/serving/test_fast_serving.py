"""The serving fast paths, without a server: each one answers exactly as the general path would.

- a plain `dataframe_records` / `dataframe_split` table skips the DataFrame (serving.parsing.plain_texts);
- the response is written by one json.dumps, byte for byte MLflow's `predictions_to_json`;
- the prediction cache (off by default) returns the rows the model would;
- the request timeout is pure ASGI (serving.timeout), with our JSON 504.
"""

from __future__ import annotations

import asyncio
import io
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc import scoring_server
from mlflow.utils.proto_json_utils import dataframe_from_parsed_json

from serving.parsing import parse_format, plain_texts
from serving.responses import predictions_json
from serving.scoring import PredictionCache, Scorer
from serving.settings import ServeSettings
from serving.timeout import RequestTimeout
from tagifai.errors import InvalidInputError
from tagifai.predict import texts_from_input

TEXTS = ["Transfer learning with transformers.", "GANs for images", "  spaced  ", "ünï ✓", ""]


# --- request parsing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    {"dataframe_records": [{"text": t} for t in TEXTS]},
    {"dataframe_split": {"columns": ["text"], "data": [[t] for t in TEXTS]}},
])
def test_plain_tables_give_the_texts_mlflow_would(body):
    (fmt, table), = body.items()
    fast = parse_format(fmt, table)
    assert isinstance(fast, list)
    frame = dataframe_from_parsed_json(table, pandas_orient=fmt.removeprefix("dataframe_"))
    assert texts_from_input(fast) == texts_from_input(frame) == TEXTS


@pytest.mark.parametrize("body", [
    {"dataframe_records": []},
    {"dataframe_records": [{"text": "a"}, {"text": None}]},
    {"dataframe_records": [{"text": "a"}, {"text": 42}]},
    {"dataframe_records": [{"text": "a", "id": 1}]},
    {"dataframe_records": [{"title": "a"}]},
    {"dataframe_records": [["a"]]},
    {"dataframe_records": {"text": "a"}},
    {"dataframe_split": {"columns": ["text"], "data": [["a", "b"]]}},
    {"dataframe_split": {"columns": ["text"], "data": [["a"]], "index": [7]}},
    {"dataframe_split": {"columns": ["title"], "data": [["a"]]}},
    {"dataframe_split": {"columns": ["text"], "data": [[None]]}},
    {"dataframe_split": ["text"]},
])
def test_anything_else_is_not_a_plain_table(body):
    (fmt, table), = body.items()
    assert plain_texts(fmt, table) is None


def test_tf_formats_still_arrive_as_sent():
    assert parse_format("inputs", [None, 42, "x"]) == [None, 42, "x"]
    assert parse_format("instances", [{"text": "x"}]) == [{"text": "x"}]


# --- response writing ---------------------------------------------------------------------------------------------


def rows(n: int) -> list[dict]:
    rng = np.random.default_rng(0)
    return [{"input_text": f"text {i} \u00e9\u2713 \"quoted\"", "predicted_tag": "mlops", "confidence": float(p[0]),
             "probabilities": {"a": float(p[0]), "b": float(p[1])}} for i, p in enumerate(rng.random((n, 2)))]


@pytest.mark.parametrize("out", [rows(1), rows(300), pd.DataFrame(rows(20)), np.arange(5.0), []])
def test_response_bytes_are_mlflows(out):
    theirs = io.StringIO()
    scoring_server.predictions_to_json(out, theirs)
    assert predictions_json(out) == theirs.getvalue()


# --- the prediction cache -----------------------------------------------------------------------------------------


class CountingModel:
    """Scores a text as its length; counts the texts it was asked for."""

    def __init__(self):
        self.asked: list[str] = []

    def predict_records(self, texts, params=None):
        self.asked.extend(texts)
        t = (params or {}).get("threshold")
        return [{"input_text": x, "predicted_tag": "mlops", "confidence": len(x) / 100, "threshold": t} for x in texts]

    def predict(self, context, texts, params=None):
        return pd.DataFrame(self.predict_records(texts, params))


def guarded(model, cache_size: int, lookups=None) -> Scorer:
    metadata = SimpleNamespace(get_params_schema=lambda: SimpleNamespace(params=[SimpleNamespace(name="threshold")]))
    pyfunc = SimpleNamespace(unwrap_python_model=lambda: model, metadata=metadata)
    return Scorer(pyfunc, max_rows=100, max_text_chars=1000, cache_size=cache_size,
                   on_cache_lookups=None if lookups is None else (lambda h, m: lookups.append((h, m))))


def test_cache_is_off_by_default():
    assert ServeSettings().cache_size == 0
    assert guarded(CountingModel(), 0).cache is None


def test_cached_answers_equal_fresh_ones_and_repeats_are_scored_once():
    model, lookups = CountingModel(), []
    plain, cached = guarded(CountingModel(), 0), guarded(model, 10, lookups)
    batches = [["a", "bb", "a"], ["bb", "ccc"], ["a"], ["ccc", "dddd", "a"]]
    for batch in batches:
        assert cached.score(batch) == plain.score(batch)
    assert model.asked == ["a", "bb", "ccc", "dddd"]
    assert lookups == [(1, 2), (1, 1), (1, 0), (2, 1)]


def test_cache_keys_on_the_threshold_too():
    model = CountingModel()
    cached = guarded(model, 10)
    assert cached.score(["a"], {"threshold": 0.5})[0]["threshold"] == 0.5
    assert cached.score(["a"])[0]["threshold"] is None
    assert model.asked == ["a", "a"]


def test_cache_evicts_the_least_recently_used():
    cache = PredictionCache(2)
    asked = []

    def score(texts):
        asked.extend(texts)
        return [{"t": t} for t in texts]

    for batch in (["a"], ["b"], ["a"], ["c"], ["a"], ["b"]):  # "c" evicts "b" (a was used more recently)
        cache.rows(batch, None, score)
    assert asked == ["a", "b", "c", "b"]
    assert len(cache) == 2


def test_invalid_input_is_refused_before_the_cache():
    cached = guarded(CountingModel(), 10)
    with pytest.raises(InvalidInputError, match="row 1: field 'text' is empty"):
        cached.score(["a", " "])


def test_a_model_without_records_is_served_uncached():
    class FrameOnly:
        def predict(self, context, texts, params=None):
            return pd.DataFrame({"input_text": texts})

    model = guarded(FrameOnly(), 10)
    assert model.cache is None
    assert model.score(["x"]).to_dict(orient="records") == [{"input_text": "x"}]


# --- the request timeout ------------------------------------------------------------------------------------------


def call(app, path: str = "/x") -> list[dict]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [], "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 1), "root_path": ""}
    asyncio.run(app(scope, receive, send))
    return sent


def sleeping_app(seconds: float):
    async def app(scope, receive, send):
        await asyncio.sleep(seconds)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    return app


def test_slow_requests_get_our_json_504():
    sent = call(RequestTimeout(sleeping_app(5), seconds=0.05))
    assert sent[0]["status"] == 504
    assert json.loads(sent[1]["body"]) == {"error_code": "TIMEOUT", "request_id": "-",
                                           "message": "request took longer than the server's time limit"}


def test_fast_requests_pass_untouched():
    sent = call(RequestTimeout(sleeping_app(0), seconds=5))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"done"


def test_the_cache_size_is_a_setting():
    assert ServeSettings(cache_size=7).cache_size == 7
