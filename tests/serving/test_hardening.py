"""The issue's "Hardened serving" list, item by item, on a real `tagifai serve` (the session's shared server):
request ids, model headers on every response, JSON errors, Prometheus metrics with model labels, separate
liveness and readiness, our OpenAPI contract at /openapi.json and /docs, structured access log."""

from __future__ import annotations

import json
import re
import time
import uuid

import httpx
import pytest
import yaml

from serving.app import OPENAPI_PATH

pytestmark = pytest.mark.slow

GOOD = {"dataframe_records": [{"text": "Transfer learning with transformers for text classification."},
                              {"text": "Generative adversarial networks for image generation."}]}


@pytest.fixture(scope="module")
def server(hardened_server):
    return hardened_server


@pytest.fixture(scope="module")
def identity(server) -> tuple[str, str]:
    ready = server.get("/readyz")
    assert ready.status_code == 200
    return ready.json()["model_name"], ready.json()["model_version"]


ENDPOINTS = [  # (method, path, body, status)
    ("POST", "/invocations", GOOD, 200),
    ("POST", "/invocations", {"dataframe_records": []}, 400),
    ("POST", "/invocations", {"inputs": ["x" * 1_100_000]}, 413),
    ("POST", "/invocations", "plain text", 415),
    ("GET", "/invocations", None, 405),
    ("GET", "/nowhere", None, 404),
    ("GET", "/ping", None, 200),
    ("GET", "/health", None, 200),
    ("GET", "/version", None, 200),
    ("GET", "/livez", None, 200),
    ("GET", "/readyz", None, 200),
    ("GET", "/metrics", None, 200),
    ("GET", "/openapi.json", None, 200),
    ("GET", "/docs", None, 200),
]


@pytest.mark.parametrize("method,path,body,status", ENDPOINTS, ids=[f"{m} {p} {s}" for m, p, _, s in ENDPOINTS])
def test_every_response_carries_the_request_id_and_model_headers(server, identity, method, path, body, status):
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    kwargs = {"json": body} if isinstance(body, dict) else {"content": body} if body else {}
    if isinstance(body, str):
        kwargs["headers"] = {"Content-Type": "text/plain"}
    kwargs.setdefault("headers", {})["X-Request-ID"] = request_id
    response = httpx.request(method, server.url + path, timeout=30, **kwargs)
    assert response.status_code == status, response.text[:300]
    assert response.headers["x-request-id"] == request_id
    assert (response.headers["x-model-name"], response.headers["x-model-version"]) == identity
    if status >= 400:
        assert response.headers["content-type"] == "application/json"
        assert response.json()["request_id"] == request_id


@pytest.mark.parametrize("sent", ["has space", "x" * 65, "semi;colon", "", "ünïcode"])
def test_a_malformed_request_id_is_replaced_not_echoed(server, sent):
    response = httpx.post(server.url + "/invocations", json=GOOD, timeout=30,
                          headers={"X-Request-ID": sent.encode("utf-8")})
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_liveness_and_readiness_are_separate(server, identity):
    assert server.get("/livez").json() == {"status": "alive"}
    ready = server.get("/readyz").json()
    assert ready["status"] == "ready" and (ready["model_name"], ready["model_version"]) == identity


def test_openapi_json_is_our_contract_and_docs_shows_it(server):
    assert server.get("/openapi.json").json() == yaml.safe_load(OPENAPI_PATH.read_text())
    examples = server.get("/openapi.json").json()["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert len(examples["application/json"]["examples"]) >= 4
    docs = server.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def _samples(text: str, name: str) -> dict[tuple, float]:
    """{sorted label pairs: value} of one metric in Prometheus text format."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', match.group(1))))
            found[labels] = float(match.group(2))
    return found


def test_metrics_count_requests_by_status_latency_and_rows_with_model_labels(server, identity):
    name, version = identity
    model = (("model_name", name), ("model_version", version), ("role", "champion"))
    ok_key = tuple(sorted((*model, ("path", "/invocations"), ("status", "200"))))
    bad_key = tuple(sorted((*model, ("path", "/invocations"), ("status", "400"))))
    latency_key = tuple(sorted((*model, ("le", "+Inf"), ("path", "/invocations"))))
    before = server.get("/metrics").text
    for _ in range(3):
        assert server.post(GOOD).status_code == 200
    assert server.post({"dataframe_records": []}).status_code == 400
    after = server.get("/metrics").text

    def delta(metric, key):
        return _samples(after, metric).get(key, 0) - _samples(before, metric).get(key, 0)

    assert delta("tagifai_requests_total", ok_key) == 3
    assert delta("tagifai_requests_total", bad_key) == 1
    assert delta("tagifai_request_latency_seconds_bucket", latency_key) == 4
    assert delta("tagifai_rows_scored_total", model) == 6  # 3 requests x 2 rows; refused rows are not scored
    # Unknown paths share one label value: a scan cannot create unbounded series.
    server.get(f"/scan-{uuid.uuid4().hex}")
    paths = {dict(k)["path"] for k in _samples(server.get("/metrics").text, "tagifai_requests_total")}
    assert "other" in paths and not any(p.startswith("/scan-") for p in paths)


def test_the_access_log_is_one_json_object_per_request_without_bodies(server):
    request_id = f"log-{uuid.uuid4().hex[:8]}"
    marker = f"ZQXLOG{uuid.uuid4().hex[:8]}"
    response = httpx.post(server.url + "/invocations", headers={"X-Request-ID": request_id}, timeout=30,
                          json={"dataframe_records": [{"text": f"transformers {marker}"}]})
    assert response.status_code == 200
    deadline = time.monotonic() + 10  # the line is written just after the answer is sent
    while True:
        log = server.log()
        lines = [json.loads(line) for line in log.splitlines() if f'"request_id": "{request_id}"' in line]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(lines) == 1
    entry = lines[0]
    assert entry["method"] == "POST" and entry["path"] == "/invocations" and entry["status"] == 200
    assert entry["bytes_in"] > 0 and entry["bytes_out"] > 0 and entry["duration_ms"] > 0
    assert marker not in log
