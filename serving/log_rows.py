"""What the request path hands the inference log (a Record: what it already has), and the table rows the writer
thread makes of it: the text's hash and statistics, the probabilities as JSON. All of it off the request path."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, NamedTuple

from monitoring.schema import text_hash
from serving.scoring import records_of
from serving.served import ServedVersion

UNREGISTERED_VERSION = 0  # a model served from a path or a run: no registered version to name


class Record(NamedTuple):
    served: ServedVersion  # the version that scored the rows (so across a swap, the right one)
    texts: list[str]
    answer: Any  # the rows answered: dicts, or a DataFrame from a model without predict_records
    request_id: str
    latency_s: float
    at: float  # epoch seconds


def version_number(version: str) -> int:
    return int(version) if version.isdigit() else UNREGISTERED_VERSION


def table_rows(record: Record, log_inputs: bool) -> list[dict]:
    """One inference_log row per text of the record."""
    served = record.served
    identity = served.identity
    logged_at = datetime.fromtimestamp(record.at, timezone.utc).replace(tzinfo=None)
    common = {"logged_at": logged_at, "request_id": record.request_id[:64],
              "model_name": identity.name, "model_version": version_number(identity.version), "role": served.role,
              "latency_ms": record.latency_s * 1000}
    stats = served.scorer.text_stats(record.texts)
    rows = []
    for text, answer, stat in zip(record.texts, records_of(record.answer), stats):
        probabilities = {str(tag): float(p) for tag, p in answer["probabilities"].items()}
        rows.append({**common, "text_chars": stat.chars, "text_words": stat.words, "oov_share": stat.oov_share,
                     "text_hash": text_hash(text), "text": text if log_inputs else None,
                     "predicted_tag": str(answer["predicted_tag"]), "confidence": float(answer["confidence"]),
                     "probabilities": json.dumps(probabilities)})
    return rows
