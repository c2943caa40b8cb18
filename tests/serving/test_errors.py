"""Errors defined once, mapped once: every error class carries its status and code, and one builder turns any
exception into the JSON body `{"error_code", "message", "request_id"}` (in-process, no server)."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.testclient import TestClient

from serving.errors import (BodyTimeoutError, HTTPError, INTERNAL_MESSAGE, InvalidSettingError, MalformedRequestError,
                            MissingContentTypeError, RequestTimeoutError, ServeError, UnsupportedMediaTypeError,
                            error_response)
from tagifai.errors import InputTooLargeError, InvalidInputError, TagifaiError

from serving_fakes import fake_app


@pytest.mark.parametrize("error,status,code", [
    (InvalidInputError("row 0: bad"), 400, "INVALID_PARAMETER_VALUE"),
    (MalformedRequestError("not JSON"), 400, "BAD_REQUEST"),
    (InputTooLargeError("too many rows"), 413, "REQUEST_TOO_LARGE"),
    (UnsupportedMediaTypeError("text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE"),
    (MissingContentTypeError(), 415, "UNSUPPORTED_MEDIA_TYPE"),
    (BodyTimeoutError("slow body"), 408, "REQUEST_TIMEOUT"),
    (RequestTimeoutError(), 504, "TIMEOUT"),
    (HTTPError(404, "Not Found"), 404, "NOT_FOUND"),
    (HTTPError(405, "Method Not Allowed"), 405, "METHOD_NOT_ALLOWED"),
])
def test_each_error_carries_its_status_and_code(error, status, code):
    got_status, body = error_response(error, "rid-1")
    assert got_status == status
    parsed = json.loads(body)
    assert parsed["error_code"] == code and parsed["request_id"] == "rid-1"
    assert parsed["message"] == str(error)


def test_serving_errors_are_tagifai_errors_with_exit_codes():
    assert issubclass(ServeError, TagifaiError) and ServeError.exit_code == 1
    assert issubclass(InvalidSettingError, ValueError) and InvalidSettingError.exit_code == 2
    assert issubclass(UnsupportedMediaTypeError, TagifaiError)


def test_an_unexpected_exception_is_a_generic_500():
    status, body = error_response(KeyError("secret"), "rid-2")
    assert status == 500
    assert json.loads(body) == {"error_code": "INTERNAL_ERROR", "message": INTERNAL_MESSAGE, "request_id": "rid-2"}
    assert b"secret" not in body


def test_messages_are_one_bounded_line():
    _, body = error_response(InvalidInputError("a\nb   c" + "x" * 1000), "r")
    message = json.loads(body)["message"]
    assert message.startswith("a b c") and len(message) == 300 and message.endswith("...")


@pytest.fixture(scope="module")
def client():
    with TestClient(fake_app(), raise_server_exceptions=False) as running:
        yield running


def post(client, body, content_type="application/json", **headers):
    return client.post("/invocations", content=body, headers={"Content-Type": content_type, **headers})


@pytest.mark.parametrize("body,content_type,status,code,message", [
    (b'{"inputs": ["a"]', "application/json", 400, "BAD_REQUEST", "request body is not valid JSON: Expecting ',' "
                                                                  "delimiter: line 1 column 17 (char 16)"),
    (b"\xff", "application/json", 400, "BAD_REQUEST", "request body is not valid UTF-8"),
    (b'{"inputs": []}', "application/json", 400, "INVALID_PARAMETER_VALUE",
     "List of texts to classify cannot be empty."),
    (b'{"inputs": ["a"], "params": {"threshold": "x"}}', "application/json", 400, "INVALID_PARAMETER_VALUE",
     "param 'threshold' must be a number between 0 and 1, got a string"),
    (b'{"inputs": ["a"], "params": {"t": 1}}', "application/json", 400, "INVALID_PARAMETER_VALUE",
     "unknown param(s): t; known: threshold"),
    (b'{"inputs": ["a","b","c","d","e","f"]}', "application/json", 413, "REQUEST_TOO_LARGE",
     "6 rows in one request; the limit is 5"),
    (b"a", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE", "This predictor only supports the following content types: "
     "Types: ['text/csv', 'application/json', 'application/vnd.apache.parquet']. Got 'text/plain'."),
    (b"{}", "application/json; charset=latin-1", 415, "UNSUPPORTED_MEDIA_TYPE",
     "The scoring server only supports UTF-8"),
    (b"{}", "application/json; v=2", 415, "UNSUPPORTED_MEDIA_TYPE", "Unrecognized content type parameters: v."),
    (b"", "text/csv", 400, "BAD_REQUEST", "Failed to parse input as a Pandas DataFrame. Ensure that the input is a "
     "valid CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method. Error: "
     "'No columns to parse from file'"),
])
def test_the_app_answers_each_error_in_one_shape(client, body, content_type, status, code, message):
    response = post(client, body, content_type, **{"X-Request-ID": "abc"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error_code": code, "message": message, "request_id": "abc"}


def test_a_missing_content_type_is_415(client):
    response = client.post("/invocations", content=b"{}", headers={"X-Request-ID": "m"})
    assert response.status_code == 415
    assert response.json()["message"].startswith("the Content-Type header is missing")


@pytest.mark.parametrize("method,path,status,code,message", [
    ("GET", "/invocations", 405, "METHOD_NOT_ALLOWED", "Method Not Allowed"),
    ("POST", "/nowhere", 404, "NOT_FOUND", "Not Found"),
])
def test_the_frameworks_errors_come_out_in_our_shape(client, method, path, status, code, message):
    response = client.request(method, path, headers={"X-Request-ID": "fw"})
    assert response.status_code == status
    assert response.json() == {"error_code": code, "message": message, "request_id": "fw"}
    assert response.headers["x-model-name"] == "fake"


def test_a_model_bug_is_a_generic_500_logged_with_the_request_id(client, caplog):
    with caplog.at_level(logging.ERROR):
        response = post(client, b'{"inputs": ["boom"]}', **{"X-Request-ID": "bug-1"})
    assert response.status_code == 500
    assert response.json() == {"error_code": "INTERNAL_ERROR", "message": INTERNAL_MESSAGE, "request_id": "bug-1"}
    assert "secret detail" not in response.text
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "bug-1" in logged and "secret detail of a model bug" in logged
