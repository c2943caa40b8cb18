"""The served model over real HTTP: `tagifai serve` (and plain `mlflow models serve`) on the session's registry.

One `tagifai serve` process is shared by the module (read-only requests); tests that need another model
state start their own server on their own registered model name.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import mlflow
import pandas as pd
import pytest

from harness.ports import listening
from registry.transitions import promote, rollback

pytestmark = pytest.mark.slow

OUTPUT_KEYS = {"input_text", "predicted_tag", "confidence", "probabilities"}
NLP_TAG, CV_TAG = "natural-language-processing", "computer-vision"
EMPTY_MESSAGE = "List of texts to classify cannot be empty."


def unique_name() -> str:
    return f"tagifai-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def champion(tracking_uri, trained_run) -> str:
    """trained_run promoted into a model name of its own; the champion URI."""
    name = unique_name()
    promote("tests-train", name, run_id=trained_run.run_id, force=True)  # not a gate test
    return f"models:/{name}@champion"


@pytest.fixture(scope="module")
def server(start_server, champion):
    """`tagifai serve --model-uri models:/<name>@champion`, the venv's bin not on PATH."""
    with start_server(champion) as running:
        yield running


def local_predictions(model_uri: str, texts: list[str], **params) -> list[dict]:
    """The same model loaded in this process: what the server must answer."""
    frame = mlflow.pyfunc.load_model(model_uri).predict(pd.DataFrame({"text": texts}), params=params or None)
    return frame.to_dict(orient="records")


@pytest.fixture(scope="module")
def expected(champion, examples) -> list[dict]:
    return local_predictions(champion, list(examples))


def assert_probabilities_equal(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g["probabilities"].keys() == w["probabilities"].keys()
        for tag, p in w["probabilities"].items():
            assert g["probabilities"][tag] == pytest.approx(p, abs=1e-9), tag


def csv_body(texts) -> str:
    return pd.DataFrame({"text": list(texts)}).to_csv(index=False)


REQUEST_FORMATS = {
    "dataframe_records": lambda texts: {"dataframe_records": [{"text": t} for t in texts]},
    "dataframe_split": lambda texts: {"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}},
    "inputs_records": lambda texts: {"inputs": [{"text": t} for t in texts]},
    "inputs_columns": lambda texts: {"inputs": {"text": list(texts)}},
    "instances": lambda texts: {"instances": [{"text": t} for t in texts]},
    "csv": csv_body,
}


def send(server, fmt: str, texts):
    body = REQUEST_FORMATS[fmt](texts)
    return server.post(body, content_type="text/csv") if fmt == "csv" else server.post(body)


def assert_good_request_works(server, examples) -> None:
    response = send(server, "dataframe_records", examples)
    assert response.status_code == 200, response.text
    assert [p["predicted_tag"] for p in response.json()["predictions"]] == [NLP_TAG, CV_TAG]


# --- health --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ping", "/health"])
def test_health_endpoints_answer_200(server, path):
    assert server.get(path).status_code == 200


# --- good requests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(REQUEST_FORMATS))
def test_every_request_format_tags_the_examples(server, examples, expected, fmt):
    response = send(server, fmt, examples)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [set(p) for p in predictions] == [OUTPUT_KEYS, OUTPUT_KEYS]
    assert [p["input_text"] for p in predictions] == list(examples)
    assert [p["predicted_tag"] for p in predictions] == [NLP_TAG, CV_TAG]
    for p in predictions:
        assert p["confidence"] == pytest.approx(p["probabilities"][p["predicted_tag"]], abs=1e-12)
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert_probabilities_equal(predictions, expected)


@pytest.mark.parametrize("fmt", ["dataframe_records", "inputs_columns"])
def test_threshold_param_of_one_gives_other(server, examples, expected, fmt):
    body = {**REQUEST_FORMATS[fmt](examples), "params": {"threshold": 1.0}}
    response = server.post(body)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["predicted_tag"] for p in predictions] == ["other", "other"]
    assert_probabilities_equal(predictions, expected)  # the threshold changes the tag, not the probabilities


# --- bad requests: 4xx with a clear message, and the server keeps serving ------------------------------

BAD_REQUESTS = {
    # name: (body, content type or None for JSON, phrases the message must contain)
    "empty list": ({"dataframe_records": []}, None, [EMPTY_MESSAGE]),
    "empty text": ({"dataframe_records": [{"text": ""}]}, None, ["'text'", "empty"]),
    "whitespace text": ({"dataframe_records": [{"text": "  \t "}]}, None, ["'text'", "whitespace"]),
    "null text": ({"dataframe_records": [{"text": None}]}, None, ["'text'", "null"]),
    "missing text column": ({"dataframe_records": [{"title": "no text here"}]}, None, ["'text'"]),
    "int text": ({"dataframe_records": [{"text": 42}]}, None, ["'text'", "string"]),
    "invalid JSON": ('{"dataframe_records": [{"text": ', "application/json", ["JSON"]),
    "JSON without a known field": ({"records": [{"text": "a text"}]}, None, ["dataframe_records", "inputs"]),
    "JSON list instead of object": ([{"text": "a text"}], None, ["dataframe_records"]),
    "threshold above 1": ({"dataframe_records": [{"text": "a text"}], "params": {"threshold": 1.5}}, None,
                          ["threshold", "between 0 and 1"]),
    "threshold below 0": ({"dataframe_records": [{"text": "a text"}], "params": {"threshold": -0.1}}, None,
                          ["threshold"]),
    "threshold not a number": ({"dataframe_records": [{"text": "a text"}], "params": {"threshold": "high"}}, None,
                               ["threshold"]),
}


def post_raw(server, body, content_type):
    if content_type is None:
        return server.post(json.dumps(body), content_type="application/json")
    return server.post(body, content_type=content_type)


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_request_gets_4xx_with_a_clear_message(server, examples, case):
    body, content_type, phrases = BAD_REQUESTS[case]
    response = post_raw(server, body, content_type)
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text}"
    error = response.json()
    message = error["message"]
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {message!r}"
    assert "stack_trace" not in error and "Traceback" not in response.text
    assert_good_request_works(server, examples)


@pytest.mark.parametrize(
    "fmt",
    # `inputs`/`instances` reach the contract's checks as sent (no schema conversion of null/42 into the
    # strings "None"/"42"): rejected like the other formats.
    ["dataframe_records", "dataframe_split", "inputs_records", "inputs_columns", "instances"],
)
@pytest.mark.parametrize("value", [None, 42], ids=["null", "int"])
def test_null_or_non_string_text_is_rejected_in_every_json_format(server, examples, fmt, value):
    response = server.post(REQUEST_FORMATS[fmt]([examples[0], value]))
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text}"
    assert "row 1" in response.json()["message"]
    assert_good_request_works(server, examples)


def test_empty_list_message_is_exactly_the_documented_one(server):
    response = server.post({"dataframe_records": []})
    assert response.status_code == 400
    assert response.json()["message"].startswith(EMPTY_MESSAGE)


def test_wrong_content_type_gets_415(server, examples):
    response = server.post(examples[0], content_type="text/plain")
    assert response.status_code == 415, response.text
    assert "application/json" in response.text
    assert_good_request_works(server, examples)


# --- the vanilla server serves the same model -----------------------------------------------------------


def test_plain_mlflow_models_serve_gives_the_same_prediction(start_server, champion, examples, expected):
    name = champion.removeprefix("models:/").split("@")[0]
    with start_server(f"models:/{name}/Production", launcher="mlflow") as vanilla:
        response = send(vanilla, "dataframe_records", examples)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["predicted_tag"] for p in predictions] == [NLP_TAG, CV_TAG]
    assert_probabilities_equal(predictions, expected)


# --- rollback, end to end --------------------------------------------------------------------------------


def test_after_rollback_the_server_serves_the_rolled_back_version(
    start_server, tracking_uri, trained_run, other_trained_run, examples
):
    name = unique_name()
    v1 = promote("tests-train", name, run_id=trained_run.run_id, force=True).version
    v2 = promote("tests-train", name, run_id=other_trained_run.run_id, force=True).version
    assert (v1, v2) == ("1", "2")
    assert rollback(name).version == v1

    served_v1 = local_predictions(f"models:/{name}/{v1}", list(examples))
    served_v2 = local_predictions(f"models:/{name}/{v2}", list(examples))
    differs = [abs(a["probabilities"][t] - b["probabilities"][t]) > 1e-6
               for a, b in zip(served_v1, served_v2) for t in a["probabilities"]]
    assert any(differs), "the two versions must predict differently for this test to mean anything"

    with start_server(f"models:/{name}@champion") as running:
        response = send(running, "dataframe_records", examples)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert_probabilities_equal(predictions, served_v1)
    with pytest.raises(AssertionError):
        assert_probabilities_equal(predictions, served_v2)


# --- a model that does not resolve starts nothing -------------------------------------------------------


def test_serving_an_unknown_model_fails_fast_and_starts_nothing(tracking_uri, serve_helpers):
    port = serve_helpers.free_port()
    env = {**serve_helpers.env_without_venv(), "MLFLOW_TRACKING_URI": tracking_uri}
    started = time.monotonic()
    result = subprocess.run(serve_helpers.tagifai_serve_command("models:/does-not-exist@champion", port), env=env,
                            capture_output=True, text=True, timeout=120, start_new_session=True)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "does-not-exist" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr
    assert elapsed < 60, f"took {elapsed:.0f}s to fail"
    assert not listening(port)
