"""What the request path hands the inference log (a Record: what it already has), and the table rows the writer
thread makes of it: the text's hash and statistics, the probabilities as JSON. All of it off the request path.

Rows come ready for the driver's bulk path: tuples in COLUMNS order for SQLite's multi-row INSERTs, text lines
for PostgreSQL's COPY. The writer runs beside the event loop and shares its GIL, so every microsecond it spends per
row is taken from requests (docs/inference_log.md): what depends on the text and its answer is made once."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, NamedTuple

from monitoring.schema import inference_log, text_hash
from serving.scoring import records_of
from serving.served import ServedVersion
from tagifai.profile import TextStats

UNREGISTERED_VERSION = 0  # a model served from a path or a run: no registered version to name
# The order of a row's values: the table's columns but the id.
COLUMNS = ("logged_at", "request_id", "model_name", "model_version", "role", "text_chars", "text_words", "oov_share",
           "text_hash", "text", "predicted_tag", "confidence", "probabilities", "latency_ms")
assert set(COLUMNS) == {c.name for c in inference_log.columns if not c.primary_key}, "inference_log changed"


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


class Answered(NamedTuple):
    """One answer to a text and what the row takes from it: never changed once made, so two rows of one request
    with the same text keep their own answers."""

    answer: dict
    tag: str
    confidence: float
    oov_share: float | None
    end: tuple | str  # the row's columns text_chars to probabilities: a tuple, or their COPY text


class Facts:
    """What the writer remembers of one (version, text): its hash and statistics, and the last answer given to it,
    reused while the answers are equal (a dict comparison costs a tenth of formatting the floats)."""

    __slots__ = ("digest", "stats", "last")

    def __init__(self, digest: str, stats: TextStats):
        self.digest, self.stats = digest, stats
        self.last: Answered | None = None

    def answered(self, answer: dict, text: str | None, row_end) -> Answered:
        last = self.last
        if last is None or answer != last.answer:
            tag, confidence, stats = str(answer["predicted_tag"]), float(answer["confidence"]), self.stats
            last = self.last = Answered(answer, tag, confidence, stats.oov_share, row_end((
                stats.chars, stats.words, stats.oov_share, self.digest, text, tag, confidence,
                probabilities_json(answer["probabilities"]))))
        return last


class TextFacts:
    """Facts of a version's texts, remembered for the last `size` distinct (version, text): live traffic repeats
    itself, and a model's own statistics (its cleaning, its vocabulary) and the probabilities' float formatting
    cost more than the rest of a row. Used by the writer thread only.

    Rows are made in the form the database takes them (`copy`: PostgreSQL COPY's text lines, else tuples in
    COLUMNS order for SQLite's INSERTs); the part that depends on the text and its answer is made once."""

    def __init__(self, log_inputs: bool = False, copy: bool = False, size: int = 10_000):
        self.log_inputs, self.copy, self.size = log_inputs, copy, size
        self._row_end = copy_fields if copy else tuple
        self._known: dict[tuple, Facts] = {}
        self._heads: dict[tuple, tuple | str] = {}  # (name, version, role) -> its columns, or their COPY text

    def of(self, record: Record) -> list[Answered]:
        """The record's texts, each with the answer it got."""
        served, texts = record.served, record.texts
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
        log_inputs, row_end = self.log_inputs, self._row_end
        return [facts.answered(answer, text if log_inputs else None, row_end)
                for facts, text, answer in zip(found, texts, records_of(record.answer))]

    def rows(self, record: Record, answered: list[Answered]) -> list:
        """One row per text of the record (COLUMNS order): a tuple, or a COPY line."""
        logged_at, request_id, latency_ms = time_text(record.at), record.request_id[:64], record.latency_s * 1000
        version = self._version_columns(record.served)
        if self.copy:
            head = f"{logged_at}\t{copy_field(request_id)}\t{version}\t"
            tail = f"\t{latency_ms}\n"
            return [head + one.end + tail for one in answered]
        head, tail = (logged_at, request_id, *version), (latency_ms,)
        return [head + one.end + tail for one in answered]

    def _version_columns(self, served: ServedVersion) -> tuple | str:
        identity = served.identity
        key = (identity.name, identity.version, served.role)
        head = self._heads.get(key)
        if head is None:
            head = (identity.name, version_number(identity.version), served.role)
            head = self._heads[key] = copy_fields(head) if self.copy else head
        return head


def table_rows(record: Record, facts: TextFacts | None = None) -> list:
    """One row (COLUMNS order) per text of the record, as `facts` makes them (tuples by default)."""
    facts = facts or TextFacts(size=0)
    return facts.rows(record, facts.of(record))


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_field(value) -> str:
    """A value in COPY's text format: \\N for NULL, backslash escapes."""
    return "\\N" if value is None else value.translate(_COPY_ESCAPES) if isinstance(value, str) else str(value)


def copy_fields(values: tuple) -> str:
    return "\t".join(map(copy_field, values))


def probabilities_json(probabilities: dict) -> str:
    try:
        return json.dumps(probabilities)  # no arguments: the C encoder, cached
    except TypeError:  # numpy floats (a model answering a DataFrame)
        return json.dumps({str(tag): float(p) for tag, p in probabilities.items()})
