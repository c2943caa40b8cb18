"""Property-based fuzzing of the /invocations contract (docs/openapi.yaml) against a real `tagifai serve`.

Hypothesis builds requests around the contract: every format key, rows whose text is any JSON value, params of
any shape, raw bytes under every content type. Properties, for every request:
- never a 5xx;
- every response carries X-Request-ID, X-Model-Name and X-Model-Version;
- a 200 matches the spec's InvocationResponse (one prediction per row, in order) and was a request the spec
  allows; an error matches the spec's Error and names no stack trace;
- a request the spec strictly allows (finite numbers, text rows) gets a 200.

TAGIFAI_FUZZ_EXAMPLES scales the example counts (default 250 structured + 120 raw, ~30 s).
"""

from __future__ import annotations

import json
import math
import os
import re
from functools import lru_cache
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
EXAMPLES = int(os.environ.get("TAGIFAI_FUZZ_EXAMPLES", "250"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RAW_FUZZ = settings(FUZZ, max_examples=max(20, EXAMPLES // 2))
TRACE_SIGNS = ("Traceback", "stack_trace", 'File "/')


@lru_cache(maxsize=1)
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text())


@lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for components.schemas[name], $refs resolved inside the spec (OpenAPI 3.1 = JSON Schema)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec()["components"]}
    return jsonschema.Draft202012Validator(schema)


# --- strategies -------------------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)
odd_texts = st.sampled_from(["", " ", "\t\n", "\x00", "\ud800 lone surrogate", "the a an", "!!!", "🙂" * 5,
                             "Transfer learning with transformers for text classification.", "é" * 300])
texts = st.one_of(st.text(max_size=120), odd_texts)
text_values = st.one_of(texts, texts, texts, json_values)  # mostly strings, sometimes anything
rows = st.one_of(
    st.fixed_dictionaries({"text": text_values}, optional={"title": json_values, "id": json_values}),
    st.fixed_dictionaries({}, optional={"title": texts}),
    json_values,
)
row_lists = st.lists(rows, max_size=6)
tensor_inputs = st.one_of(
    st.lists(texts, max_size=6), texts, row_lists,
    st.fixed_dictionaries({"text": st.one_of(st.lists(text_values, max_size=6), text_values)}),
    json_values,
)
split = st.one_of(
    st.fixed_dictionaries({"columns": st.lists(st.sampled_from(["text", "title", "id"]) | st.text(max_size=5),
                                               max_size=3),
                           "data": st.lists(st.lists(text_values, max_size=3), max_size=5)}),
    json_values,
)
thresholds = st.one_of(st.floats(), st.floats(0, 1), st.integers(-2, 2), json_values)
params = st.one_of(st.fixed_dictionaries({"threshold": thresholds}), st.dictionaries(st.text(max_size=10),
                   json_values, max_size=2), json_values)
payloads = st.one_of(
    st.fixed_dictionaries({"dataframe_records": row_lists}, optional={"params": params}),
    st.fixed_dictionaries({"dataframe_split": split}, optional={"params": params}),
    st.fixed_dictionaries({"inputs": tensor_inputs}, optional={"params": params}),
    st.fixed_dictionaries({"instances": tensor_inputs}, optional={"params": params}),
    st.dictionaries(st.sampled_from(["dataframe_records", "inputs", "instances", "params", "records", "data"]),
                    json_values, max_size=3),
    json_values,
)
good_texts = st.one_of(st.text(min_size=1, max_size=200), odd_texts).filter(str.strip)
good_params = st.one_of(st.just({}), st.none(), st.fixed_dictionaries({"threshold": st.floats(0, 1)}),
                        st.fixed_dictionaries({"threshold": st.sampled_from([0, 1])}))


def as_request(texts_: list[str], shape: str) -> dict:
    return {
        "dataframe_records": lambda: {"dataframe_records": [{"text": t} for t in texts_]},
        "dataframe_split": lambda: {"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts_]}},
        "inputs_list": lambda: {"inputs": texts_},
        "inputs_column": lambda: {"inputs": {"text": texts_}},
        "inputs_records": lambda: {"inputs": [{"text": t} for t in texts_]},
        "instances": lambda: {"instances": [{"text": t} for t in texts_]},
    }[shape]()


good_requests = st.tuples(st.lists(good_texts, min_size=1, max_size=20),
                          st.sampled_from(["dataframe_records", "dataframe_split", "inputs_list", "inputs_column",
                                           "inputs_records", "instances"]),
                          st.one_of(st.none(), good_params))
content_types = st.sampled_from([
    "application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8",
    "application/json; charset=latin-1", "application/json; q=1", "text/csv", "text/csv; charset=utf-8",
    "application/vnd.apache.parquet", "text/plain", "application/x-www-form-urlencoded", "", "*/*",
    "application/json;;", "APPLICATION/JSON",
])
raw_bodies = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=200).map(str.encode),
    payloads.map(lambda p: json.dumps(p).encode()).flatmap(
        lambda b: st.integers(0, len(b)).map(lambda cut: b[:cut])),  # JSON cut anywhere
    st.sampled_from([b"text\nhello world\n", b"text\n\n\n", b"a,b\n1,2\n", b'text\n"unterminated\n', b"PAR1"]),
)


# --- the contract ------------------------------------------------------------------------------------------


def finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(finite(v) for v in value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    return True


def spec_allows(payload) -> bool:
    return validator("InvocationRequest").is_valid(payload) and finite(payload)


def format_count(payload) -> int:
    formats = {"dataframe_records", "dataframe_split", "inputs", "instances"}
    return len(formats & set(payload)) if isinstance(payload, dict) else 0


def strictly_allowed(payload) -> bool:
    """The spec allows it and leaves nothing to interpretation: exactly one format, and not dataframe_split
    (whose cells the spec does not type)."""
    return spec_allows(payload) and format_count(payload) == 1 and "dataframe_split" not in payload


def check_response(response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    for header in ("x-request-id", "x-model-name", "x-model-version"):
        assert response.headers.get(header), f"missing {header}"
    body = response.json()
    if response.status_code == 200:
        validator("InvocationResponse").validate(body)
    else:
        validator("Error").validate(body)
        assert body["request_id"] == response.headers["x-request-id"]
        assert not any(sign in response.text for sign in TRACE_SIGNS), response.text


@pytest.fixture(scope="module")
def client(hardened_server):
    with httpx.Client(base_url=hardened_server.url, timeout=60) as http:
        yield http


def test_every_request_example_in_the_spec_is_served(client):
    examples = spec()["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert len(examples) >= 4
    for name, example in examples.items():
        payload = example["value"]
        assert spec_allows(payload) and format_count(payload) == 1, name
        response = client.post("/invocations", json=payload)
        assert response.status_code == 200, f"{name}: {response.text}"
        check_response(response)


@FUZZ
@given(request=good_requests)
def test_requests_the_spec_allows_get_one_prediction_per_row(client, request):
    texts_, shape, params_ = request
    payload = as_request(texts_, shape) | ({} if params_ is None else {"params": params_})
    assert spec_allows(payload)
    response = client.post("/invocations", content=json.dumps(payload).encode(),  # ASCII: lone surrogates too
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200, f"{payload!r}: {response.status_code} {response.text}"
    check_response(response)
    predictions = response.json()["predictions"]
    assert [p["input_text"] for p in predictions] == texts_
    for p in predictions:
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        if p["predicted_tag"] != "other":
            assert p["confidence"] == pytest.approx(p["probabilities"][p["predicted_tag"]])
        if params_ and params_.get("threshold") == 1 and max(p["probabilities"].values()) < 1:
            assert p["predicted_tag"] == "other"


@FUZZ
@given(payload=payloads)
def test_json_requests_around_the_contract(client, payload):
    response = client.post("/invocations", content=json.dumps(payload).encode(),
                           headers={"Content-Type": "application/json"})
    event(f"status {response.status_code}")  # shown by --hypothesis-show-statistics
    check_response(response)
    if response.status_code == 200:
        assert spec_allows(payload), f"served a request the spec does not allow: {payload!r}"
        assert format_count(payload) == 1
    elif strictly_allowed(payload):
        pytest.fail(f"the spec allows {payload!r} but the server answered {response.status_code}: {response.text}")


@RAW_FUZZ
@given(body=raw_bodies, content_type=content_types)
def test_raw_bodies_under_any_content_type(client, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/invocations", content=body, headers=headers)
    event(f"status {response.status_code}")
    check_response(response)


SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@RAW_FUZZ
@given(request_id=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80),
       method=st.sampled_from(["GET", "PUT", "DELETE", "OPTIONS", "PATCH"]),
       path=st.sampled_from(["/invocations", "/ping", "/livez", "/readyz", "/metrics", "/nope", "/docs"]))
def test_any_method_path_and_request_id(client, request_id, method, path):
    sent = request_id.strip(" ")  # HTTP drops the spaces around a header value
    response = client.request(method, path, headers={"X-Request-ID": sent} if sent else {})
    assert response.status_code < 500
    assert response.headers.get("x-model-name") and response.headers.get("x-model-version")
    if SAFE_ID.match(sent):
        assert response.headers["x-request-id"] == sent
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])  # a fresh one, not the caller's
    if response.status_code >= 400:
        validator("Error").validate(response.json())
