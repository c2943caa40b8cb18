"""A throw-away database on a PostgreSQL server that is up (the batch and team tests, bench_batch.py).

The server is reached with an admin login given as a libpq DSN ("host=... user=... dbname=postgres") or a URL
("postgresql://user@host:5432/postgres"); what cannot connect raises psycopg2.OperationalError, and the caller
decides (a test fails, a benchmark skips its PostgreSQL figures).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable


def connect(admin: str, timeout: float = 5.0):
    """An autocommit psycopg2 connection with the admin login (CREATE/DROP DATABASE cannot run in a transaction)."""
    import psycopg2

    connection = psycopg2.connect(admin, connect_timeout=max(1, round(timeout)))
    connection.autocommit = True
    return connection


def database_url(admin: str, name: str, driver: str = "postgresql") -> str:
    """The URL of database `name` on the admin login's server, with its user and password (e.g. for SQLAlchemy:
    driver "postgresql+psycopg2")."""
    from psycopg2.extensions import parse_dsn
    from sqlalchemy.engine import URL

    params = parse_dsn(admin)
    return URL.create(driver, params.get("user"), params.get("password"), params.get("host", "127.0.0.1"),
                      int(params.get("port", 5432)), name).render_as_string(hide_password=False)


def create_database(admin: str, prefix: str, driver: str = "postgresql") -> tuple[str, Callable[[], None]]:
    """A new database with a unique name `<prefix>_<12 hex>`: (its URL, a function that drops it, connections and
    all). The admin connection stays open until the drop."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = connect(admin)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            connection.close()

    return database_url(admin, name, driver), drop
