"""What the request path hands the inference log (a Record: what it already has), and the table rows the writer
thread makes of it: the text's hash and statistics, the probabilities as JSON. All of it off the request path.

Rows are tuples in COLUMNS order, ready for the driver's executemany: the writer runs beside the event loop and
shares its GIL, so every microsecond it spends per row is taken from requests (docs/inference_log.md)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, NamedTuple

from monitoring.schema import inference_log, text_hash
from serving.scoring import records_of
from serving.served import ServedVersion
from tagifai.profile import TextStats

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


_second: tuple[int, str] = (-1, "")  # the last whole second formatted: rows come many to a second


def time_text(at: float) -> str:
    """logged_at (UTC) as text both drivers take: the form SQLAlchemy stores a DateTime in SQLite (so readers
    through SQLAlchemy get a datetime back), and a timestamp PostgreSQL's COPY reads."""
    global _second
    whole = int(at)
    if _second[0] != whole:
        _second = (whole, utc_naive(whole).isoformat(" ", "seconds"))
    return f"{_second[1]}.{min(round((at - whole) * 1e6), 999_999):06d}"


class Facts:
    """What the writer remembers of one (version, text): its hash and statistics, and the JSON of the last
    probabilities answered for it (reused only while the answer's probabilities are equal)."""

    __slots__ = ("digest", "stats", "probabilities", "json")

    def __init__(self, digest: str, stats: TextStats):
        self.digest, self.stats = digest, stats
        self.probabilities: dict | None = None
        self.json = ""

    def probabilities_json(self, probabilities: dict) -> str:
        if probabilities != self.probabilities:  # a dict comparison costs a tenth of the float formatting
            self.probabilities, self.json = probabilities, probabilities_json(probabilities)
        return self.json


class TextFacts:
    """Facts of a version's texts, remembered for the last `size` distinct (version, text): live traffic repeats
    itself, and a model's own statistics (its cleaning, its vocabulary) and the probabilities' float formatting
    cost more than the rest of a row. Used by the writer thread only."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._known: dict[tuple, Facts] = {}

    def of(self, served: ServedVersion, texts: list[str]) -> list[Facts]:
        identity = served.identity
        keys = [(identity.name, identity.version, text) for text in texts]
        found = [self._known.get(key) for key in keys]
        missing = [i for i, facts in enumerate(found) if facts is None]
        if missing:
            stats = served.scorer.text_stats([texts[i] for i in missing])
            for i, stat in zip(missing, stats):
                found[i] = self._known[keys[i]] = Facts(text_hash(texts[i]), stat)
            while len(self._known) > self.size:  # the oldest first (dicts keep insertion order)
                del self._known[next(iter(self._known))]
        return found


def table_rows(record: Record, log_inputs: bool, facts: TextFacts | None = None) -> list[tuple]:
    """One row (COLUMNS order) per text of the record."""
    served = record.served
    identity = served.identity
    logged_at, request_id = time_text(record.at), record.request_id[:64]
    name, version, role = identity.name, version_number(identity.version), served.role
    latency_ms = record.latency_s * 1000
    rows = []
    known = (facts or TextFacts(0)).of(served, record.texts)
    for text, answer, fact in zip(record.texts, records_of(record.answer), known):
        stat = fact.stats
        rows.append((logged_at, request_id, name, version, role, stat.chars, stat.words, stat.oov_share,
                     fact.digest, text if log_inputs else None, str(answer["predicted_tag"]),
                     float(answer["confidence"]), fact.probabilities_json(answer["probabilities"]), latency_ms))
    return rows


def probabilities_json(probabilities: dict) -> str:
    try:
        return json.dumps(probabilities)  # no arguments: the C encoder, cached
    except TypeError:  # numpy floats (a model answering a DataFrame)
        return json.dumps({str(tag): float(p) for tag, p in probabilities.items()})
