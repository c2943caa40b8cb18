"""The prediction store: one table keyed by (id, model_name, model_version), through SQLAlchemy.

SQLite by default, PostgreSQL for teams. A job loads its rows into a staging table of its own, then
upserts them into `predictions` in one transaction: a re-run overwrites the same keys (idempotent), and
a failure before the commit leaves `predictions` exactly as it was.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    Column, DateTime, Float, Integer, MetaData, String, Table, create_engine, event, func, inspect, select, true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from batch.errors import StoreError
from tagifai.config import database_uri

logger = logging.getLogger(__name__)

TABLE = "predictions"
KEY = ("id", "model_name", "model_version")
VALUES = ("predicted_tag", "confidence", "scored_at", "run_id")
CONNECT_TIMEOUT_S = 5


def _columns(keyed: bool) -> list[Column]:
    return [
        Column("id", String, primary_key=keyed, nullable=False),
        Column("model_name", String, primary_key=keyed, nullable=False),
        Column("model_version", Integer, primary_key=keyed, nullable=False),
        Column("predicted_tag", String, nullable=False),
        Column("confidence", Float, nullable=False),
        Column("scored_at", DateTime, nullable=False),  # UTC
        Column("run_id", String(32)),  # the batch run that wrote the row
    ]


metadata = MetaData()
predictions = Table(TABLE, metadata, *_columns(keyed=True))


def redact(url: str) -> str:
    """The URL without its password, for logs and MLflow params."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable store URL>"


def engine(url: str, must_exist: bool = False, pool_pre_ping: bool | None = None,
           pool_size: int | None = None) -> Engine:
    """`must_exist`: for readers, a SQLite file that is not there is an error (connecting would create it).
    `pool_pre_ping` (default: PostgreSQL only): test a pooled connection before use, so a store that restarted
    costs one reconnect instead of one failed request. `pool_size`: connections kept open (readers)."""
    postgres = url.startswith(("postgresql", "postgres:"))
    options: dict = {"pool_pre_ping": postgres if pool_pre_ping is None else pool_pre_ping}
    if pool_size is not None:
        options.update(pool_size=pool_size, max_overflow=pool_size)
    if postgres:
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}  # a store that is down: fail, not hang
    try:
        # database_uri: a plain postgresql:// gets the installed driver (psycopg2), not SQLAlchemy's psycopg 3.
        eng = create_engine(database_uri(url), **options)
    except (ArgumentError, ImportError) as exc:
        raise StoreError(f"store URL '{redact(url)}' is not usable: {exc}") from None
    database = eng.url.database
    if must_exist and eng.dialect.name == "sqlite" and database not in (None, "", ":memory:") \
            and not Path(database).is_file():
        raise StoreError(f"the store {redact(url)} does not exist: run `tagifai batch-score` first")
    if eng.dialect.name == "sqlite":
        @event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # readers keep answering while a job commits
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
    elif eng.dialect.name != "postgresql":
        raise StoreError(f"store '{redact(url)}': only sqlite and postgresql stores are supported")
    return eng


def ensure_table(eng: Engine) -> None:
    try:
        metadata.create_all(eng, tables=[predictions], checkfirst=True)
    except SQLAlchemyError as exc:
        raise StoreError(f"store '{redact(str(eng.url))}' cannot be used: {reason(exc)}") from None


def reason(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def _insert(eng: Engine):
    return (postgresql if eng.dialect.name == "postgresql" else sqlite).insert


def _as_utc_naive(value):
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


class Publication:
    """One job's rows on their way into the store: `load` chunks into staging, then `publish` once."""

    def __init__(self, eng: Engine, run_id: str | None = None):
        self.engine = eng
        self.run_id = run_id
        self.staging = Table(f"{TABLE}_staging_{uuid.uuid4().hex[:12]}", MetaData(), *_columns(keyed=False))
        self.rows_loaded = 0
        self.seconds = 0.0

    def __enter__(self) -> Publication:
        ensure_table(self.engine)
        self.staging.create(self.engine)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.staging.drop(self.engine, checkfirst=True)
        except SQLAlchemyError as drop_exc:  # never hide the job's own error behind this one
            logger.warning("could not drop staging table %s: %s", self.staging.name, reason(drop_exc))

    def load(self, rows: Iterable[dict]) -> int:
        """Append rows (dicts with KEY + predicted_tag, confidence, scored_at) to staging; own transaction."""
        rows = [{**r, "run_id": self.run_id, "scored_at": _as_utc_naive(r["scored_at"])} for r in rows]
        if not rows:
            return 0
        started = time.perf_counter()
        with self.engine.begin() as conn:
            conn.execute(self.staging.insert(), rows)
        self.seconds += time.perf_counter() - started
        self.rows_loaded += len(rows)
        return len(rows)

    def publish(self, before_commit: Callable[[], None] | None = None) -> int:
        """Upsert staging into `predictions` in one transaction. `before_commit` runs inside it, after the
        upsert: if it raises (tests inject failures there), the transaction rolls back."""
        started = time.perf_counter()
        names = [c.name for c in predictions.columns]
        insert = _insert(self.engine)(predictions).from_select(
            names, select(*[self.staging.c[n] for n in names]).where(true())  # WHERE: SQLite's upsert-select rule
        )
        upsert = insert.on_conflict_do_update(
            index_elements=list(KEY), set_={n: insert.excluded[n] for n in VALUES}
        )
        with self.engine.begin() as conn:
            conn.execute(upsert)
            if before_commit is not None:
                before_commit()
        self.seconds += time.perf_counter() - started
        logger.info("store %s: %d rows committed", redact(str(self.engine.url)), self.rows_loaded)
        return self.rows_loaded


def count(eng: Engine, model_name: str | None = None, model_version: int | None = None) -> int:
    query = select(func.count()).select_from(predictions)
    if model_name is not None:
        query = query.where(predictions.c.model_name == model_name)
    if model_version is not None:
        query = query.where(predictions.c.model_version == model_version)
    with eng.connect() as conn:
        return conn.execute(query).scalar_one()


def has_table(eng: Engine) -> bool:
    return inspect(eng).has_table(TABLE)
