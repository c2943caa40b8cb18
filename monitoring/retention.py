"""Retention of the inference log: durations as users write them ("30d", "24h", "90m", "45s") and the delete of
rows older than one. Used by `tagifai monitor --prune-older-than` and the server's retention option."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from monitoring.errors import MonitorInputError
from monitoring.logdb import open_log
from monitoring.schema import inference_log, redact

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Rows deleted per transaction: a prune of millions of rows never holds the SQLite write lock for long, so the
# server's writers keep inserting in between.
PRUNE_BATCH = 50_000


def parse_duration(value: str, field: str) -> timedelta:
    """`field` names the option in the error (a ValueError the caller turns into its own input error)."""
    match = _DURATION.match(value or "")
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{field} must be a positive duration such as 90m, 24h, 30d or 2w, got {value!r}")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def format_duration(value: timedelta) -> str:
    """The largest unit that writes `value` whole, as parse_duration reads it: 1d, 90m, 45s."""
    seconds = value.total_seconds()
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def cutoff(older_than: timedelta, now: datetime | None = None) -> datetime:
    """The UTC-naive time before which rows are older than `older_than` (logged_at is stored UTC, naive)."""
    now = now or datetime.now(timezone.utc)
    return (now - older_than).astimezone(timezone.utc).replace(tzinfo=None)


def prune(eng: Engine, older_than: timedelta) -> int:
    """Delete rows logged before now - older_than, in batches; returns how many were deleted."""
    return prune_before(eng, cutoff(older_than))


def prune_before(eng: Engine, before: datetime) -> int:
    """Delete rows logged before `before` (UTC, naive), in batches; returns how many were deleted."""
    deleted = 0
    while True:
        with eng.begin() as conn:
            ids = select(inference_log.c.id).where(inference_log.c.logged_at < before).limit(PRUNE_BATCH)
            count = conn.execute(delete(inference_log).where(inference_log.c.id.in_(ids))).rowcount
        deleted += count
        if count < PRUNE_BATCH:
            return deleted


@dataclass(frozen=True)
class PruneResult:
    log_uri: str  # redacted
    older_than: str
    before: datetime
    deleted: int

    def message(self) -> str:
        return (f"deleted {self.deleted} rows older than {self.older_than} (logged before "
                f"{self.before:%Y-%m-%d %H:%M:%S} UTC) from {self.log_uri}")


def prune_log(uri: str, older_than: str) -> PruneResult:
    """`tagifai monitor --prune-older-than`: the prune alone, on an existing log (bad input: MonitorInputError)."""
    try:
        age = parse_duration(older_than, "--prune-older-than")
    except ValueError as exc:
        raise MonitorInputError(str(exc)) from None
    eng = open_log(uri)
    try:
        before = cutoff(age)
        return PruneResult(redact(uri), older_than, before, prune_before(eng, before))
    finally:
        eng.dispose()
