"""Opening the inference log for reading (`tagifai monitor`, its prune): an existing database with the table,
or an InferenceLogError that names the (redacted) URI and what to do."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from batch.errors import StoreError
from monitoring import schema
from monitoring.errors import InferenceLogError


def open_log(uri: str) -> Engine:
    """An engine on an existing inference log with its table; InferenceLogError naming the (redacted) URI if not."""
    shown = schema.redact(uri)
    if uri.strip().lower() == schema.DISABLED:
        raise InferenceLogError("--inference-log none: there is no log to monitor; name the server's log URI")
    try:
        url = make_url(uri)
    except ArgumentError:
        raise InferenceLogError(f"--inference-log {uri!r} is not a database URL (e.g. {schema.DEFAULT_URI} "
                                "or postgresql://user@host/db)") from None
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_file():
        raise InferenceLogError(f"the inference log {shown} does not exist (no such file): pass the URI the server "
                                "was started with (tagifai serve --inference-log)")
    try:
        eng = schema.engine(uri)
        has_table = inspect(eng).has_table(schema.TABLE)
    except StoreError as exc:
        raise InferenceLogError(f"the inference log cannot be used: {exc}") from None
    except SQLAlchemyError as exc:
        raise InferenceLogError(f"the inference log {shown} cannot be read: {schema.reason(exc)}") from None
    if not has_table:
        raise InferenceLogError(f"the inference log {shown} has no {schema.TABLE} table: no server has logged "
                                "to it (tagifai serve --inference-log)")
    return eng
