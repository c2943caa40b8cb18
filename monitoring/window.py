"""Reading a window of the inference log: the rows of one (model name, version, role) logged since a time.

Built for millions of rows: the tag counts are aggregated by the database (GROUP BY), and only the three
numeric columns the signals need are streamed (a server-side cursor on PostgreSQL, `yield_per` chunks) into
numpy arrays; no row object outlives its chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from monitoring import schema
from monitoring.errors import EmptyWindowError, InferenceLogError
from monitoring.retention import cutoff, format_duration

CHUNK_ROWS = 100_000
log = schema.inference_log.c


@dataclass(frozen=True)
class WindowKey:
    """Which rows: one version of one model in one role, logged in [start, end) (UTC, naive). The end is fixed
    when the key is made, so the counts, the streamed values and the labels' join all read the same rows while
    the server keeps logging."""

    model_name: str
    version: int
    role: str
    since: timedelta
    start: datetime
    end: datetime

    @classmethod
    def last(cls, model_name: str, version: int, role: str, since: timedelta) -> WindowKey:
        end = cutoff(timedelta(0))
        return cls(model_name, version, role, since, end - since, end)

    def bounds_text(self) -> tuple[str, str]:
        """start and end as ISO 8601 UTC ("...Z"), for the JSON and the MLflow run's params."""
        return self.start.isoformat() + "Z", self.end.isoformat() + "Z"

    def condition(self):
        return and_(log.model_name == self.model_name, log.model_version == self.version, log.role == self.role,
                    log.logged_at >= self.start, log.logged_at < self.end)

    def describe(self) -> str:
        return (f"{self.model_name} version {self.version} ({self.role}) in the last {format_duration(self.since)} "
                f"(since {self.start:%Y-%m-%d %H:%M:%S} UTC)")


@dataclass(frozen=True, eq=False)
class Window:
    key: WindowKey
    tag_counts: dict[str, int]
    confidence: np.ndarray
    text_chars: np.ndarray
    oov_share: np.ndarray | None  # None: no row of the window has one (a model without a vocabulary)

    @property
    def rows(self) -> int:
        return len(self.confidence)


def read_window(eng: Engine, key: WindowKey) -> Window:
    """The window's tag counts and numeric columns; EmptyWindowError (naming what the window does hold) if none."""
    try:
        with eng.connect() as conn:
            counts = dict(conn.execute(select(log.predicted_tag, func.count()).where(key.condition())
                                       .group_by(log.predicted_tag)).all())
            if not counts:
                raise EmptyWindowError(_empty_message(conn, eng, key))
            values = _stream(conn, key)
    except SQLAlchemyError as exc:
        raise InferenceLogError(f"the inference log {schema.redact(str(eng.url))} cannot be read: "
                                f"{schema.reason(exc)}") from None
    oov = values[:, 2][~np.isnan(values[:, 2])]
    return Window(key, counts, values[:, 0], values[:, 1], oov if len(oov) else None)


def _stream(conn, key: WindowKey) -> np.ndarray:
    """(rows x 3) float array of confidence, text_chars, oov_share (NaN for a missing share)."""
    stmt = select(log.confidence, log.text_chars, log.oov_share).where(key.condition())
    result = conn.execution_options(yield_per=CHUNK_ROWS).execute(stmt)
    # Rows as plain tuples: numpy probing a Row for the array protocol costs ~10x the fetch. None -> NaN.
    chunks = [np.array(list(map(tuple, part)), dtype=float) for part in result.partitions()]
    return np.concatenate(chunks) if chunks else np.empty((0, 3))


def _empty_message(conn, eng: Engine, key: WindowKey) -> str:
    held = conn.execute(select(log.model_name, log.model_version, log.role, func.count())
                        .where(log.logged_at >= key.start, log.logged_at < key.end)
                        .group_by(log.model_name, log.model_version, log.role).limit(10)).all()
    found = "; it holds " + ", ".join(f"{n} version {v} ({r}): {c} rows" for n, v, r, c in held) if held \
        else "; it holds no rows at all in that window"
    return f"no rows in the inference log {schema.redact(str(eng.url))} for {key.describe()}{found}"
