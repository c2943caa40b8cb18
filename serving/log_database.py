"""The inference log's database: its engine, checked at start (a URI that can never work is refused naming the
option; nothing connects yet), and the batch insert the writer thread calls.

Rows go in through the driver's own bulk path, not SQLAlchemy's per-row work: SQLite `executemany`, PostgreSQL
`COPY ... FROM STDIN`. The writer shares the worker's GIL with the event loop, and with the database server the
machine's cores: COPY halved both the writer's and PostgreSQL's CPU per row against INSERT ... VALUES pages."""

from __future__ import annotations

import io
import time
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
# sqlite3 releases the GIL around every statement step, so `executemany` hands it to the event loop and waits to
# get it back once per row; one statement of SQLITE_ROWS_PER_STATEMENT rows steps once for all of them.
SQLITE_ROWS_PER_STATEMENT = 64  # x 14 columns: far under SQLite's limit of 32,766 bound parameters


def sqlite_insert(rows: int) -> str:
    values = f"({', '.join('?' * len(COLUMNS))})"
    return f"INSERT INTO {inference_log.name} ({', '.join(COLUMNS)}) VALUES {', '.join([values] * rows)}"


SQLITE_INSERT, SQLITE_INSERT_MANY = sqlite_insert(1), sqlite_insert(SQLITE_ROWS_PER_STATEMENT)
PG_COPY = f"COPY {inference_log.name} ({', '.join(COLUMNS)}) FROM STDIN"
YIELD_EVERY_ROWS = 128  # the writer thread lets the event loop have the GIL this often (~1 ms of its work)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


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
    """Inserts batches of rows (COLUMNS order) in one transaction each; creates the table when it is missing."""

    def __init__(self, eng: Engine):
        self.engine = eng
        self.postgres = eng.dialect.name == "postgresql"
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

    def insert(self, rows: list[tuple]) -> None:
        self.ensure_table()
        with self.engine.begin() as conn:
            cursor = conn.connection.cursor()
            try:
                if self.postgres:
                    cursor.copy_expert(PG_COPY, copy_text(rows))
                else:
                    sqlite_rows(cursor, rows)
            finally:
                cursor.close()


def sqlite_rows(cursor, rows: list[tuple]) -> None:
    """Full statements of SQLITE_ROWS_PER_STATEMENT rows, the rest one row a step."""
    whole = len(rows) - len(rows) % SQLITE_ROWS_PER_STATEMENT
    for start in range(0, whole, SQLITE_ROWS_PER_STATEMENT):
        cursor.execute(SQLITE_INSERT_MANY, list(chain.from_iterable(rows[start:start + SQLITE_ROWS_PER_STATEMENT])))
    if whole < len(rows):
        cursor.executemany(SQLITE_INSERT, rows[whole:])


def copy_text(rows: list[tuple]) -> io.StringIO:
    """The rows in COPY's text format, made a chunk at a time with the GIL handed over in between (a pure-Python
    loop over a whole batch would hold it for milliseconds while the event loop waits)."""
    buffer = io.StringIO()
    for start in range(0, len(rows), YIELD_EVERY_ROWS):
        buffer.write("".join(map(_copy_line, rows[start:start + YIELD_EVERY_ROWS])))
        time.sleep(0)
    buffer.seek(0)
    return buffer


def _copy_line(row: tuple) -> str:
    """A row in COPY's text format: tab-separated, \\N for NULL, backslash escapes."""
    return "\t".join(["\\N" if v is None else v.translate(_COPY_ESCAPES) if isinstance(v, str) else str(v)
                      for v in row]) + "\n"


def describe(exc: Exception) -> str:
    """The first line of a database error, whether SQLAlchemy wrapped it or the driver raised it."""
    return reason(exc) if isinstance(exc, SQLAlchemyError) else (str(exc).strip().splitlines() or [repr(exc)])[0]
