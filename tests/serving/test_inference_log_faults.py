"""The inference log when its database fails, with real servers: a SQLite file locked by another transaction
fills the queue, rows are dropped and counted while every request answers, and logging resumes once the lock
goes; a PostgreSQL database that refuses connections mid-run loses exactly the rows counted as dropped; a URI
that can never work stops the start, naming the option."""

from __future__ import annotations

import sqlite3
import subprocess

import httpx
import pytest

from harness.ports import wait_for
from harness.postgres import connect
from monitoring.schema import engine, ensure_table

from inference_log_reading import log_counts, log_rows, pg_admin_url, wait_rows

pytestmark = pytest.mark.slow

TEXT = "Transfer learning with transformers for text classification."


def post_many(server, count: int, tag: str) -> list[int]:
    """`count` one-row requests (request ids `tag-i`), each text different (no cache involved): their statuses."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return [client.post("/invocations", json={"dataframe_records": [{"text": f"{TEXT} {tag} {i}"}]},
                            headers={"X-Request-ID": f"{tag}-{i}"}).status_code for i in range(count)]


def settled(server) -> dict | None:
    """The counts once every scored row is written or dropped (none still queued or retried)."""
    counts = log_counts(server)
    return counts if counts["written"] + counts["dropped"] + counts["failed"] == counts["scored"] else None


def test_a_locked_sqlite_file_drops_and_counts_rows_but_no_request(start_server, champion_uri, tmp_path):
    path = tmp_path / "locked.db"
    eng = engine(f"sqlite:///{path}")
    ensure_table(eng)  # in WAL mode, as the server would leave it
    eng.dispose()
    args = ["--inference-log", f"sqlite:///{path}", "--inference-log-queue", "1"]
    with start_server(champion_uri, args=args) as server:
        assert post_many(server, 1, "before") == [200]
        wait_rows(f"sqlite:///{path}", 1)
        lock = sqlite3.connect(path, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # every other writer now waits, then fails with "database is locked"
        try:
            assert post_many(server, 40, "locked") == [200] * 40
            dropped = wait_for(lambda: log_counts(server)["dropped"], 10, "rows dropped")
            assert 30 <= dropped <= 39  # the writer holds one request's rows, the queue one more
            assert "queue full" in server.log()
        finally:
            lock.rollback()
            lock.close()
        wait_for(lambda: settled(server), 40, "the queue written once the lock is gone")
        for i in range(5):  # and logging goes on (one at a time: the queue holds one request)
            assert post_many(server, 1, f"after{i}") == [200]
            wait_rows(f"sqlite:///{path}", 1, request_id=f"after{i}-0")
        counts = wait_for(lambda: settled(server), 20, "every row written or dropped")
    rows = log_rows(f"sqlite:///{path}")
    assert counts["failed"] == 0 and counts["scored"] == 46 and counts["dropped"] == dropped
    assert len(rows) == counts["written"] == 46 - counts["dropped"]



def allow_connections(name: str, allowed: bool) -> None:
    admin = connect(pg_admin_url())
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
            if not allowed:  # and end the connections it has (the writer's pooled one)
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    finally:
        admin.close()


def test_a_postgresql_outage_loses_only_the_counted_rows_and_logging_recovers(start_server, champion_uri, pg_log):
    url, name = pg_log
    with start_server(champion_uri, args=["--inference-log", url, "--inference-log-queue", "20"]) as server:
        assert post_many(server, 10, "up") == [200] * 10
        wait_rows(url, 10)
        allow_connections(name, False)
        try:
            assert post_many(server, 60, "down") == [200] * 60
            wait_for(lambda: log_counts(server)["dropped"], 20, "rows dropped while the database is down")
        finally:
            allow_connections(name, True)
        wait_for(lambda: settled(server), 60, "the queue written once the database is back")
        assert post_many(server, 10, "back") == [200] * 10  # and logging goes on
        counts = wait_for(lambda: settled(server), 30, "every row written or dropped")
        rows = wait_rows(url, int(counts["written"]))
    assert counts["scored"] == 80 and counts["failed"] == 0 and 0 < counts["dropped"] < 60
    assert len(rows) == counts["written"] == counts["scored"] - counts["dropped"]
    logged = {r["request_id"] for r in rows}
    assert {f"up-{i}" for i in range(10)} | {f"back-{i}" for i in range(10)} <= logged  # before and after: all


def test_a_log_uri_that_can_never_work_stops_the_start(serve_helpers, tracking_uri):
    command = [*serve_helpers.tagifai_serve_command("models:/nothing@champion", serve_helpers.free_port()),
               "--inference-log", "mysql://user@127.0.0.1/log"]
    done = subprocess.run(command, env={**serve_helpers.env_without_venv(), "MLFLOW_TRACKING_URI": tracking_uri},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "--inference-log" in done.stderr and "only sqlite and postgresql" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
