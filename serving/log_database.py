"""The inference log's database: its engine, checked at start (a URI that can never work is refused naming the
option; nothing connects yet), and the batch insert the writer thread calls.

Rows go in through the driver's own bulk path, not SQLAlchemy's per-row work: SQLite INSERTs of many rows each,
PostgreSQL `COPY ... FROM STDIN`. The writer shares the worker's GIL with the event loop, and with the database
server the machine's cores: COPY halved both the writer's and PostgreSQL's CPU per row against INSERT ... VALUES
pages."""

from __future__ import annotations

import functools
import io
import sqlite3
from itertools import chain
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from batch.errors import StoreError
from monitoring.schema import engine as log_engine
from monitoring.schema import ensure_table, inference_log, reason, redact
from serving.errors import ServeError
from serving.log_rows import COLUMNS

OPTION = "--inference-log (TAGIFAI_SERVE_INFERENCE_LOG)"
SCHEMES = ("sqlite", "postgresql", "postgres")
# The prediction store's SQLite engine waits up to 30 s for a lock; the log's writer would rather retry (its
# back-off) than sit on a lock that long, and never blocks a request either way.
SQLITE_BUSY_MS = 2000
# The drivers release the GIL around every statement step (sqlite3) and every chunk sent (psycopg2's COPY), and
# each time the writer thread wants it back it waits for the event loop to let go: on this kind of machine every
# such hand-over costs the loop more than the writer's work in between (docs/inference_log.md). So a batch goes
# in as few steps as the drivers allow: SQLite statements of many rows (a power of two each, so that a handful of
# statements, prepared once, cover any batch), PostgreSQL's COPY data in one chunk.
SQLITE_MAX_ROWS_PER_STATEMENT = 1024  # x 14 columns, within SQLite's bound-parameter limit unless it is lower
PG_COPY = f"COPY {inference_log.name} ({', '.join(COLUMNS)}) FROM STDIN"


@functools.lru_cache(maxsize=None)
def sqlite_insert(rows: int) -> str:
    values = f"({', '.join('?' * len(COLUMNS))})"
    return f"INSERT INTO {inference_log.name} ({', '.join(COLUMNS)}) VALUES {', '.join([values] * rows)}"


def open_engine(uri: str) -> Engine:
    """The log's engine, or ServeError naming the option. A database that is down at start is not an error here:
    the writer retries it."""
    try:
        scheme = make_url(uri).get_backend_name()
    except ArgumentError:
        raise ServeError(f"{OPTION} is not a database URL; give sqlite:///FILE, postgresql://USER@HOST/DB "
                         f"or none") from None
    if scheme not in SCHEMES:
        raise ServeError(f"{OPTION} {redact(uri)!r}: only sqlite and postgresql databases are supported "
                         f"(or none to turn the log off)")
    try:
        eng = log_engine(uri)
    except StoreError as exc:
        raise ServeError(f"{OPTION}: {exc}") from None
    if eng.dialect.name == "sqlite":
        _check_sqlite_file(eng, uri)
        event.listen(eng, "connect", _shorter_busy_timeout)  # after the store's pragmas, so it wins
    return eng


def _check_sqlite_file(eng: Engine, uri: str) -> None:
    database = eng.url.database
    if not database or database == ":memory:":
        raise ServeError(f"{OPTION} {redact(uri)!r}: an in-memory SQLite database is lost with its worker; "
                         "give sqlite:///FILE")
    folder = Path(database).resolve().parent
    if not folder.is_dir():
        raise ServeError(f"{OPTION} {redact(uri)!r}: the folder {folder} does not exist")


def _shorter_busy_timeout(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


class LogDatabase:
    """Inserts batches of rows (COLUMNS order; for PostgreSQL, COPY lines: `copy`) in one transaction each;
    creates the table when it is missing."""

    def __init__(self, eng: Engine):
        self.engine = eng
        self.copy = eng.dialect.name == "postgresql"
        dbapi = eng.dialect.loaded_dbapi
        # Down, locked, restarting, or a connection the server ended: worth retrying. Any other error refuses.
        self.transient = (OperationalError, dbapi.OperationalError, dbapi.InterfaceError)
        self.refused = (SQLAlchemyError, dbapi.Error)
        self._table_ready = False

    def ensure_table(self) -> None:
        if not self._table_ready:
            ensure_table(self.engine)
            self._table_ready = True

    def forget_table(self) -> None:
        """After a failure: the file may have been deleted, the database recreated; check on the next insert."""
        self._table_ready = False

    def insert(self, rows: list) -> None:
        self.ensure_table()
        with self.engine.begin() as conn:
            cursor = conn.connection.cursor()
            try:
                if self.copy:
                    data = "".join(rows)
                    cursor.copy_expert(PG_COPY, io.StringIO(data), size=len(data) + 1)
                else:
                    sqlite_rows(cursor, rows, sqlite_most_rows(cursor.connection))
            finally:
                cursor.close()


def sqlite_rows(cursor, rows: list[tuple], most: int) -> None:
    """The rows in statements of the largest power of two rows that fits what is left (and `most`)."""
    start = 0
    while start < len(rows):
        size = 1 << (min(len(rows) - start, most).bit_length() - 1)
        cursor.execute(sqlite_insert(size), list(chain.from_iterable(rows[start:start + size])))
        start += size


def sqlite_most_rows(dbapi_conn) -> int:
    """The largest power of two rows a statement may bind on this connection."""
    limit = dbapi_conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(COLUMNS)
    return min(SQLITE_MAX_ROWS_PER_STATEMENT, 1 << (limit.bit_length() - 1))


def describe(exc: Exception) -> str:
    """The first line of a database error, whether SQLAlchemy wrapped it or the driver raised it."""
    return reason(exc) if isinstance(exc, SQLAlchemyError) else (str(exc).strip().splitlines() or [repr(exc)])[0]
