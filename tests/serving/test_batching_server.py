"""Micro-batching in a real `tagifai serve` on the trained model: concurrent requests with different thresholds,
row counts and some invalid ones get the bodies a server with batching off gives; rows are counted once."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from serving_fakes import answers

pytestmark = pytest.mark.slow

TEXTS = ["Transfer learning with transformers for text classification.",
         "Deploying models with Docker and Kubernetes in production.",
         "Image segmentation with U-Net on medical scans.",
         "A graph neural network library.", "Tracking experiments, versioning data and models."]


def requests() -> list:
    out = []
    for i in range(30):
        rows = [{"text": TEXTS[(i + j) % len(TEXTS)]} for j in range(1 + i % 4)]
        body: dict = {"dataframe_records": rows}
        if i % 3:
            body["params"] = {"threshold": [0.2, 0.6, 0.95][i % 3]}
        out.append(body)
    out[4] = {"dataframe_records": [{"text": ""}]}                 # 400
    out[11] = {"dataframe_records": [{"txt": "no text column"}]}    # 400
    out[17] = {"inputs": ["fine"], "params": {"threshold": 7}}     # 400
    out[23] = {"inputs": ["x"], "params": {"unknown": 1}}          # 400
    return out


def send_all(url: str, bodies: list) -> list[httpx.Response]:
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(16) as pool:
        return list(pool.map(lambda body: client.post(f"{url}/invocations", json=body), bodies * 2))


def rows_scored(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(float(v) for v in re.findall(r'^tagifai_rows_scored_total\{[^}]*\} (\S+)$', text, re.MULTILINE))


def test_batched_server_answers_as_unbatched_one(start_server, champion_uri):
    bodies = requests()
    with start_server(champion_uri, args=["--max-batch-size", "1"]) as plain_server:
        plain = send_all(plain_server.url, bodies)
    with start_server(champion_uri, args=["--max-batch-size", "64", "--max-batch-wait-ms", "5"]) as server:
        batched = send_all(server.url, bodies)
        valid_rows = sum(len(b["dataframe_records"]) for b, r in zip(bodies * 2, batched) if r.status_code == 200)
        assert rows_scored(server.url) == valid_rows
    assert answers(batched) == answers(plain)
    assert [r.status_code for r in batched].count(400) == 8
    for r in batched:
        stages = [part.split(";")[0] for part in r.headers["server-timing"].split(", ")]
        assert stages[0] == "parse"
        if r.status_code == 200:
            assert stages == ["parse", "validate", "queue", "predict", "serialize"]
