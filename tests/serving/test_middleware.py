"""The middleware in-process: request ids, model headers, the body's limits (size, time), and responses passed
through untouched (no server, no model)."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.testclient import TestClient

from serving.middleware import Hardening
from serving.routing import Router
from serving.served import ModelIdentity, ModelSlot, ServedVersion

from serving_fakes import fake_app


def echo_app(status=200, body=b"as the app wrote it"):
    async def app(scope, receive, send):
        received = (await receive())["body"]
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body + received})

    return app


def run(app, body=b"", headers=(), chunks=None, method="POST"):
    """Call an ASGI app once; the messages it sent."""
    sent = []
    pending = list(chunks) if chunks is not None else [body]

    async def receive():
        if pending:
            chunk = pending.pop(0)
            if chunk is None:  # the client stops sending
                await asyncio.sleep(3600)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/invocations", "raw_path": b"/invocations",
             "query_string": b"", "headers": list(headers), "http_version": "1.1", "scheme": "http",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "root_path": ""}
    asyncio.run(app(scope, receive, send))
    return sent


def headers_of(message) -> dict:
    return {k.decode(): v.decode() for k, v in message["headers"]}


def hardened(app, **kwargs):
    slot = ModelSlot(ServedVersion(ModelIdentity("m", "2"), scorer=None))
    return Hardening(app, Router(slot), kwargs.pop("max_body_bytes", 100), **kwargs)


@pytest.mark.parametrize("status", [200, 400, 503])
def test_responses_pass_through_untouched_with_the_ids_added(status):
    sent = run(hardened(echo_app(status)), b"!", headers=[(b"x-request-id", b"my-id")])
    assert sent[0]["status"] == status
    assert headers_of(sent[0]) == {"content-type": "text/plain", "x-request-id": "my-id", "x-model-name": "m",
                                   "x-model-version": "2", "x-model-role": "champion"}
    assert sent[1]["body"] == b"as the app wrote it!"


def test_a_malformed_request_id_is_replaced():
    sent = run(hardened(echo_app()), headers=[(b"x-request-id", b"has space")])
    rid = headers_of(sent[0])["x-request-id"]
    assert rid != "has space" and len(rid) == 32


def test_a_declared_length_over_the_limit_is_413_before_the_app_runs():
    sent = run(hardened(echo_app()), headers=[(b"content-length", b"5000"), (b"x-request-id", b"big")])
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == {"error_code": "REQUEST_TOO_LARGE", "request_id": "big",
                                           "message": "request body is 5000 bytes; the limit is 100"}


def test_a_chunked_body_past_the_limit_is_413():
    sent = run(hardened(echo_app()), chunks=[b"x" * 60, b"x" * 60], headers=[(b"x-request-id", b"c")])
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["message"] == "request body exceeds the limit of 100 bytes"


def test_a_body_trickled_in_too_slowly_is_408():
    sent = run(hardened(echo_app(), body_timeout=0.05), chunks=[b"{", None], headers=[(b"x-request-id", b"t")])
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {"error_code": "REQUEST_TIMEOUT", "request_id": "t",
                                           "message": "request body not received within 0.05 s"}


def test_an_app_that_raises_before_answering_gets_a_json_500():
    async def broken(scope, receive, send):
        raise RuntimeError("secret")

    sent = run(hardened(broken), headers=[(b"x-request-id", b"r")])
    assert sent[0]["status"] == 500
    body = json.loads(sent[1]["body"])
    assert body["error_code"] == "INTERNAL_ERROR" and "secret" not in body["message"]


def test_the_served_app_answers_a_good_request_with_the_headers():
    with TestClient(fake_app()) as client:
        response = client.post("/invocations", json={"dataframe_records": [{"text": "a long enough text"}]})
    assert response.status_code == 200
    assert response.json() == {"predictions": [{"input_text": "a long enough text", "predicted_tag": "long"}]}
    assert response.headers["x-model-name"] == "fake" and response.headers["x-model-version"] == "7"
