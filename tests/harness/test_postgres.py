"""harness.postgres: URLs from either kind of admin login, and a real database created and dropped (PostgreSQL
must be up, as for the batch and team tests: CI starts it)."""

from __future__ import annotations

import os

import pytest

from harness.postgres import connect, create_database, database_url

PG_ADMIN_URL = os.environ.get("TAGIFAI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def test_database_url_from_a_dsn_or_a_url_keeps_user_password_host_and_port():
    assert database_url("host=db.local port=6543 user=postgres dbname=postgres", "x") == \
        "postgresql://postgres@db.local:6543/x"
    assert database_url("postgresql://u:p%40ss@h:5/postgres", "x", driver="postgresql+psycopg2") == \
        "postgresql+psycopg2://u:p%40ss@h:5/x"
    assert database_url("user=u", "x") == "postgresql://u@127.0.0.1:5432/x"


def test_create_database_then_drop_it():
    import psycopg2

    try:
        url, drop = create_database(PG_ADMIN_URL, "tagifai_harness")
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}", pytrace=False)
    name = url.rsplit("/", 1)[1]
    assert name.startswith("tagifai_harness_")
    inside = connect(url)  # left open: the drop ends it (WITH (FORCE))
    with inside.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone()[0] == name
    drop()
    with pytest.raises(psycopg2.Error), inside.cursor() as cursor:
        cursor.execute("SELECT 1")
    inside.close()
    admin = connect(PG_ADMIN_URL)
    with admin.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
        assert cursor.fetchone()[0] == 0
    admin.close()
