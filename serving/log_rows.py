"""What the request path hands the inference log (a Record: what it already has), and the table rows the writer
thread makes of it: the text's hash and statistics, the probabilities as JSON. All of it off the request path.

Rows are tuples in COLUMNS order, ready for the driver's executemany: the writer runs beside the event loop and
shares its GIL, so every microsecond it spends per row is taken from requests (docs/inference_log.md)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple

from monitoring.schema import inference_log, text_hash
from serving.scoring import records_of
from serving.served import ServedVersion

UNREGISTERED_VERSION = 0  # a model served from a path or a run: no registered version to name
# The order table_rows writes its tuples in: the table's columns but the id.
COLUMNS = ("logged_at", "request_id", "model_name", "model_version", "role", "text_chars", "text_words", "oov_share",
           "text_hash", "text", "predicted_tag", "confidence", "probabilities", "latency_ms")
assert set(COLUMNS) == {c.name for c in inference_log.columns if not c.primary_key}, "inference_log changed"
TAG, CONFIDENCE, OOV_SHARE = (COLUMNS.index(name) for name in ("predicted_tag", "confidence", "oov_share"))


class Record(NamedTuple):
    served: ServedVersion  # the version that scored the rows (so across a swap, the right one)
    texts: list[str]
    answer: Any  # the rows answered: dicts, or a DataFrame from a model without predict_records
    request_id: str
    latency_s: float
    at: float  # epoch seconds


def version_number(version: str) -> int:
    return int(version) if version.isdigit() else UNREGISTERED_VERSION


def utc_naive(at: float) -> datetime:
    return datetime.fromtimestamp(at, timezone.utc).replace(tzinfo=None)


def sqlite_time(at: float) -> str:
    """logged_at as SQLAlchemy stores a DateTime in SQLite (so readers through SQLAlchemy get a datetime)."""
    return utc_naive(at).isoformat(" ", "microseconds")


def table_rows(record: Record, log_inputs: bool, stamp: Callable[[float], Any] = utc_naive) -> list[tuple]:
    """One row (COLUMNS order) per text of the record; `stamp` turns its epoch time into the driver's value."""
    served = record.served
    identity = served.identity
    logged_at, request_id = stamp(record.at), record.request_id[:64]
    name, version, role = identity.name, version_number(identity.version), served.role
    latency_ms = record.latency_s * 1000
    rows = []
    for text, answer, stat in zip(record.texts, records_of(record.answer), served.scorer.text_stats(record.texts)):
        rows.append((logged_at, request_id, name, version, role, stat.chars, stat.words, stat.oov_share,
                     text_hash(text), text if log_inputs else None, str(answer["predicted_tag"]),
                     float(answer["confidence"]), probabilities_json(answer["probabilities"]), latency_ms))
    return rows


def probabilities_json(probabilities: dict) -> str:
    try:
        return json.dumps(probabilities)  # no arguments: the C encoder, cached
    except TypeError:  # numpy floats (a model answering a DataFrame)
        return json.dumps({str(tag): float(p) for tag, p in probabilities.items()})
