"""MLFLOW_TRACKING_URI=postgresql://... (no driver, as users type it) works through tagifai.config, on the real
PostgreSQL at 127.0.0.1:5432 (trust auth): one fresh database per test, dropped afterwards."""

from __future__ import annotations

import os
import uuid

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tagifai import config

ADMIN_DSN = os.environ.get("TAGIFAI_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")


def _admin():
    import psycopg2

    try:
        connection = psycopg2.connect(ADMIN_DSN, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable ({ADMIN_DSN}): {' '.join(str(exc).split())}. Start it (.ci/run "
                    "does) or point TAGIFAI_TEST_PG_DSN at one.", pytrace=False)
    connection.autocommit = True
    return connection


@pytest.fixture
def plain_postgres_uri():
    name = f"tagifai_tracking_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    previous = mlflow.get_tracking_uri()
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        mlflow.set_tracking_uri(previous)
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.slow
def test_a_plain_postgresql_tracking_uri_logs_and_reads_a_run(plain_postgres_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", plain_postgres_uri)
    uri = config.tracking_uri()
    assert uri.startswith("postgresql+psycopg2://")
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("tests-postgres")
    with mlflow.start_run(run_name="on-postgres") as run:
        mlflow.log_metric("f1", 0.9)
    got = MlflowClient(uri).get_run(run.info.run_id)
    assert got.info.run_name == "on-postgres" and got.data.metrics == {"f1": 0.9}


@pytest.mark.slow
def test_without_the_rewrite_mlflow_needs_psycopg_3(plain_postgres_uri):
    """Why database_uri exists: the same URI given to MLflow as written (this venv has no psycopg 3)."""
    pytest.importorskip("psycopg2")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("psycopg 3 is installed: the plain URI works as is")
    with pytest.raises(Exception, match="psycopg"):
        MlflowClient(plain_postgres_uri).search_experiments()
