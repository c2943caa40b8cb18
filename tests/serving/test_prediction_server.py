"""GET /predictions on a real `tagifai serve --prediction-store` with two forked workers and a real PostgreSQL
store: answers over HTTP, a store that goes away answers 503 JSON while /invocations keeps working, and the
server recovers when the store is back (pooled connections are checked before use)."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

from batch import store
from harness.postgres import connect, create_database

pytestmark = pytest.mark.slow

PG_ADMIN_URL = os.environ.get("TAGIFAI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
T1 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def seed(url: str, name: str, ids) -> None:
    eng = store.engine(url)
    with store.Publication(eng, "run-1") as publication:
        publication.load([{"id": str(i), "model_name": name, "model_version": 1, "predicted_tag": "mlops",
                           "confidence": 0.75, "scored_at": T1} for i in ids])
        publication.publish()
    eng.dispose()


def test_stored_predictions_over_http_survive_a_store_that_goes_away(start_server, champion_uri, examples):
    name = champion_uri.removeprefix("models:/").split("@")[0]
    url, drop = create_database(PG_ADMIN_URL, "tagifai_serve", driver="postgresql+psycopg2")
    database = url.rsplit("/", 1)[1]
    try:
        seed(url, name, range(1, 101))
        with start_server(champion_uri, args=["--workers", "2", "--prediction-store", url]) as server:
            for i in (1, 42, 100, 42):  # several connections: both workers answer from their own pool
                got = server.get(f"/predictions/{i}")
                assert got.status_code == 200, got.text
                assert got.json()["id"] == str(i) and got.json()["model_version"] == 1
                assert got.json()["stale"] is False and got.headers["x-model-version"] == "1"
            many = server.get("/predictions?ids=3,1000,2").json()
            assert [p["id"] for p in many["predictions"]] == ["3", "2"] and many["missing"] == ["1000"]
            missing = server.get("/predictions/1000")
            assert missing.status_code == 404 and "'1000'" in missing.json()["message"]

            admin = connect(PG_ADMIN_URL)
            with admin.cursor() as cursor:  # the store goes away, connections and all
                cursor.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
            for _ in range(3):
                down = server.get("/predictions/42")
                assert down.status_code == 503 and down.json()["error_code"] == "STORE_UNAVAILABLE", down.text
                assert "unavailable" in down.json()["message"] and "stack_trace" not in down.json()
                assert "Traceback" not in down.text and "psycopg2" not in down.text
            assert server.post({"dataframe_records": [{"text": examples[0]}]}).status_code == 200

            with admin.cursor() as cursor:  # ... and comes back
                cursor.execute(f'CREATE DATABASE "{database}"')
            admin.close()
            seed(url, name, [42])
            assert all(server.get("/predictions/42").status_code == 200 for _ in range(4))
            assert "Traceback" not in server.log()
    finally:
        drop()
