"""The inference log: one row per scored row, written by the server (serving.inference_log), read by
`tagifai monitor`. SQLite by default (a file beside mlflow.db, WAL so several workers and a reader share it),
PostgreSQL for teams; the engine is the prediction store's (batch.store), with its drivers and pragmas."""

from __future__ import annotations

import hashlib

from sqlalchemy import BigInteger, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Engine

from batch.store import engine as store_engine
from batch.store import reason, redact

DEFAULT_URI = "sqlite:///inference.db"
DISABLED = "none"
TABLE = "inference_log"
ROLES = ("champion", "challenger")

metadata = MetaData()
inference_log = Table(
    TABLE, metadata,
    # BIGINT on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("logged_at", DateTime, nullable=False),  # UTC, naive
    Column("request_id", String(64), nullable=False),
    Column("model_name", String(256), nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("role", String(16), nullable=False),  # ROLES
    Column("text_chars", Integer, nullable=False),
    Column("text_words", Integer, nullable=False),
    Column("oov_share", Float),  # None: the model has no vocabulary to measure it with
    Column("text_hash", String(64), nullable=False),  # text_hash() of the text as sent
    Column("text", Text),  # only with --log-inputs
    Column("predicted_tag", String(256), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("probabilities", Text, nullable=False),  # JSON object tag -> probability
    Column("latency_ms", Float, nullable=False),  # of the whole request the row came in
    # One index: every read is of one version and role's window. Each index is written on every row the server
    # logs, and request ids and hashes are random keys, a random page each. Joins of labels and retention scan the
    # window or the table instead: seconds on 1M rows, once per call or per hour (docs/monitoring.md).
    Index("ix_inference_log_window", "model_name", "model_version", "role", "logged_at"),
)


def text_hash(text: str) -> str:
    """SHA-256 of the UTF-8 text exactly as sent: labels are joined to logged rows through it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def engine(uri: str) -> Engine:
    """Raises batch.errors.StoreError for a URI that is not a usable SQLite/PostgreSQL URL."""
    return store_engine(uri)


def ensure_table(eng: Engine) -> None:
    metadata.create_all(eng, tables=[inference_log], checkfirst=True)


__all__ = ["DEFAULT_URI", "DISABLED", "ROLES", "TABLE", "engine", "ensure_table", "inference_log", "reason",
           "redact", "text_hash"]
