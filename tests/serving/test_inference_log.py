"""The inference log with real `tagifai serve` processes and real SQLite files: every scored row is logged with
its version, role, text hash, statistics, probabilities and latency, the raw text only with --log-inputs;
cached answers too; `none` writes nothing, the default is inference.db in the working directory; two workers
share one file; across a swap each row names the version that answered it; a drain at shutdown writes what is
queued; retention prunes old rows. The queue, the live gauges, a locked file: test_inference_log_faults.py."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import insert

from harness.ports import wait_for
from harness.processes import stop_group
from monitoring.schema import engine, ensure_table, inference_log, text_hash

from inference_log_reading import log_counts, log_rows, metric, wait_rows

pytestmark = pytest.mark.slow

TEXTS = ["Transfer learning with transformers for text classification.",
         "Generative adversarial networks for image generation.",
         "Monitoring machine learning models in production with feature stores."]


def post(server, texts: list[str], request_id: str | None = None, **headers) -> httpx.Response:
    if request_id:
        headers["X-Request-ID"] = request_id
    response = httpx.post(f"{server.url}/invocations", json={"dataframe_records": [{"text": t} for t in texts]},
                          headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response


@pytest.fixture(scope="module")
def logged(start_server, champion_uri, tmp_path_factory):
    """One server logging to a SQLite file of its own, with the prediction cache on; three requests answered."""
    url = f"sqlite:///{tmp_path_factory.mktemp('log') / 'log.db'}"
    with start_server(champion_uri, args=["--inference-log", url], env={"TAGIFAI_SERVE_CACHE_SIZE": "100"}) as server:
        answers = {"two-rows": post(server, TEXTS[:2], "two-rows").json()["predictions"],
                   "one-row": post(server, TEXTS[2:], "one-row").json()["predictions"],
                   "cached": post(server, TEXTS[2:], "cached").json()["predictions"]}  # the cache answers this one
        rows = wait_rows(url, 4)
        yield server, url, rows, answers


def test_every_scored_row_is_logged_with_what_it_was_answered(logged, champion_uri):
    server, _, rows, answers = logged
    name = champion_uri.removeprefix("models:/").split("@")[0]
    assert [r["request_id"] for r in rows] == ["two-rows", "two-rows", "one-row", "cached"]
    texts = [*TEXTS[:2], TEXTS[2], TEXTS[2]]
    answered = [*answers["two-rows"], *answers["one-row"], *answers["cached"]]
    for row, text, answer in zip(rows, texts, answered):
        assert (row["model_name"], row["model_version"], row["role"]) == (name, 1, "champion")
        assert row["text_hash"] == text_hash(text) and row["text"] is None  # no --log-inputs: the hash only
        assert (row["text_chars"], row["text_words"]) == (len(text), len(text.split()))
        assert row["predicted_tag"] == answer["predicted_tag"] and row["confidence"] == answer["confidence"]
        assert json.loads(row["probabilities"]) == answer["probabilities"]
        assert 0 < row["latency_ms"] < 30_000
        assert abs(row["logged_at"] - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(minutes=5)
    assert rows[0]["latency_ms"] == rows[1]["latency_ms"]  # a row carries its request's latency


def test_the_counters_and_live_gauges_count_the_logged_rows(logged):
    server = logged[0]
    counts = wait_for(lambda: (c := log_counts(server))["written"] == 4 and c, 10, "4 rows counted as written")
    assert counts == {"scored": 4, "written": 4, "dropped": 0, "failed": 0}
    window = {tag: metric(server, "tagifai_live_tag_rows", tag=tag, role="champion")
              for tag in {r["predicted_tag"] for r in logged[2]}}
    assert metric(server, "tagifai_live_rows", role="champion") == 4 == sum(window.values())
    confidences = sum(r["confidence"] for r in logged[2])
    assert metric(server, "tagifai_live_confidence_sum", role="champion") == pytest.approx(confidences)


def test_log_inputs_stores_the_text_and_two_workers_share_one_file(start_server, champion_uri, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    texts = [f"{TEXTS[i % 3]} Variant {i}." for i in range(40)]
    with start_server(champion_uri, args=["--inference-log", url, "--log-inputs", "--workers", "2"]) as server:
        for i, text in enumerate(texts):  # a new connection each: the kernel spreads them over the workers
            post(server, [text], f"req-{i}")
        rows = wait_rows(url, 40)
        assert sorted(r["text"] for r in rows) == sorted(texts)
        assert all(r["text_hash"] == text_hash(r["text"]) for r in rows)
        assert wait_for(lambda: log_counts(server)["written"] == 40, 10, "40 rows counted, over both workers")
        assert wait_for(lambda: metric(server, "tagifai_live_rows") == 40, 10, "both workers' windows summed")


def test_none_writes_nothing_and_the_default_is_inference_db_in_the_working_directory(start_server, champion_uri,
                                                                                        tmp_path):
    off, default = tmp_path / "off", tmp_path / "default"
    off.mkdir(), default.mkdir()
    with start_server(champion_uri, args=["--inference-log", "none"], cwd=off) as server:
        post(server, TEXTS)
        assert metric(server, "tagifai_inference_log_written_total") == 0
        assert metric(server, "tagifai_rows_scored_total") == 3
    assert list(off.iterdir()) == []
    with start_server(champion_uri, cwd=default) as server:
        post(server, TEXTS)
        assert len(wait_rows(f"sqlite:///{default / 'inference.db'}", 3)) == 3


def test_queued_rows_are_written_when_the_server_stops(start_server, champion_uri, tmp_path):
    url = f"sqlite:///{tmp_path / 'drain.db'}"
    with start_server(champion_uri, args=["--inference-log", url]) as server:
        for i in range(20):
            post(server, [f"{TEXTS[0]} {i}"])
        stop_group(server.process)  # SIGTERM at once: the last rows are still in the queue
    assert len(log_rows(url)) == 20, server.log()


def test_retention_prunes_rows_older_than_the_period(start_server, champion_uri, tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    eng = engine(url)
    ensure_table(eng)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    base = {"model_name": "m", "model_version": 1, "role": "champion", "text_chars": 1, "text_words": 1,
            "text_hash": text_hash("x"), "predicted_tag": "other", "confidence": 1.0, "probabilities": "{}",
            "latency_ms": 1.0}
    with eng.begin() as conn:
        conn.execute(insert(inference_log), [{**base, "request_id": "old", "logged_at": now - timedelta(days=3)},
                                             {**base, "request_id": "recent", "logged_at": now - timedelta(hours=1)}])
    eng.dispose()
    with start_server(champion_uri, args=["--inference-log", url, "--inference-log-retention", "2d"]) as server:
        wait_for(lambda: {r["request_id"] for r in log_rows(url)} == {"recent"}, 20, "the old row pruned")
        post(server, TEXTS[:1], "new")
        wait_rows(url, 1, request_id="new")
    assert {r["request_id"] for r in log_rows(url)} == {"recent", "new"}


def test_across_a_swap_each_row_names_the_version_that_answered_it(start_server, registry, tmp_path):
    url = f"sqlite:///{tmp_path / 'swap.db'}"
    client, name = registry["client"], registry["name"]
    answered = {}
    args = ["--inference-log", url, "--poll-interval", "1"]
    try:
        with start_server(f"models:/{name}@champion", args=args) as server:
            for i in range(3):
                answered[f"before-{i}"] = post(server, TEXTS[:1], f"before-{i}").headers["x-model-version"]
            client.set_registered_model_alias(name, "champion", "2")
            wait_for(lambda: server.get("/readyz").json()["model_version"] == "2", 30, "the swap to version 2")
            for i in range(3):
                answered[f"after-{i}"] = post(server, TEXTS[:1], f"after-{i}").headers["x-model-version"]
            rows = wait_rows(url, 6)
    finally:
        client.set_registered_model_alias(name, "champion", "1")
    assert set(answered.values()) == {"1", "2"}
    assert {r["request_id"]: str(r["model_version"]) for r in rows} == answered


def test_challenger_rows_are_logged_in_shadow_mode(start_server, registry, tmp_path):
    import mlflow

    url = f"sqlite:///{tmp_path / 'shadow.db'}"
    name = registry["name"]
    registry["client"].set_registered_model_alias(name, "challenger", "2")
    args = ["--inference-log", url, "--challenger", f"models:/{name}@challenger", "--poll-interval", "1"]
    try:
        with start_server(f"models:/{name}@champion", args=args) as server:
            wait_for(lambda: any(m["role"] == "challenger" for m in server.get("/models").json()["models"]), 30,
                     "the challenger loaded")
            ids = [f"shadow-{uuid.uuid4().hex[:6]}" for _ in TEXTS]
            for request_id, text in zip(ids, TEXTS):
                post(server, [text], request_id)
            challenger = wait_rows(url, 3, role="challenger")
            champion = wait_rows(url, 3, role="champion")
    finally:
        registry["client"].delete_registered_model_alias(name, "challenger")
    assert [r["request_id"] for r in champion] == ids and sorted(r["request_id"] for r in challenger) == sorted(ids)
    assert {r["model_version"] for r in champion} == {1} and {r["model_version"] for r in challenger} == {2}
    theirs = mlflow.pyfunc.load_model(f"models:/{name}/2").unwrap_python_model().predict_records(TEXTS)
    by_id = {r["request_id"]: r for r in challenger}
    assert [by_id[i]["predicted_tag"] for i in ids] == [row["predicted_tag"] for row in theirs]
    assert [json.loads(by_id[i]["probabilities"]) for i in ids] == [row["probabilities"] for row in theirs]
