"""The inference log's writer, one per worker: the request path puts what it already has on a bounded queue
(`add`: a deque's append, no lock, never a wait, never an error); a daemon thread turns it into rows
(serving.log_rows), feeds the live gauges (serving.live_window) and inserts them in batches, at most every
FLUSH_SECONDS, in short transactions (several workers share one SQLite file in WAL mode).

A full queue drops the record: its rows are counted (tagifai_inference_log_dropped_total) and a warning says how
many, at most once a minute. A database that is down or locked is retried with a back-off doubling from
BACKOFF_FIRST_S to BACKOFF_MAX_S, the batch kept; records keep queueing meanwhile, then drop. At shutdown what
is queued is written within DRAIN_SECONDS (rows still unwritten then are counted as failed). Docs:
docs/inference_log.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from datetime import timedelta
from typing import NamedTuple

from monitoring import retention
from monitoring.schema import DISABLED, redact
from serving import metrics
from serving.live_window import LiveWindow
from serving.log_database import LogDatabase, describe, open_engine
from serving.log_rows import Record, TextFacts
from serving.served import ServedVersion

logger = logging.getLogger("tagifai.inference_log")

# Rows reach the database at most this long after their answer (unless it is down). Each flush hands the GIL
# back and forth with the event loop a few times: at 0.5 s they cost requests/s measurably (docs/inference_log.md).
FLUSH_SECONDS = 1.0
MAX_BATCH_ROWS = 2000  # rows per transaction
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 30.0
DRAIN_SECONDS = 5.0  # at shutdown; within the supervisor's kill window (serving/prefork.py)
WARN_EVERY_S = 60.0
PRUNE_EVERY_S, PRUNE_RETRY_S = 3600.0, 60.0


class Counters(NamedTuple):
    """One version and role's rows written, dropped and failed."""

    written: object
    dropped: object
    failed: object


class InferenceLog:
    def __init__(self, uri: str, log_inputs: bool = False, queue_size: int = 10_000,
                 retention_period: timedelta | None = None):
        self.uri = redact(uri)
        self.engine = open_engine(uri)
        self.database = LogDatabase(self.engine)
        self.retention = retention_period
        # deque's append and popleft are atomic: the request path takes no lock. The bound is checked before
        # the append, so two threads adding at once (event loop, shadow thread) may pass it by one.
        self.queue: deque[Record] = deque()
        self.queue_size = queue_size
        self.window = LiveWindow()
        self.facts = TextFacts(log_inputs, copy=self.database.copy)
        self._stop = threading.Event()
        self._deadline = 0.0  # monotonic: when the drain at shutdown gives up
        self._thread: threading.Thread | None = None
        self._counters: dict[tuple, Counters] = {}  # by label values
        self._dropped_unreported, self._warned_at = 0, -WARN_EVERY_S
        self._down_since: float | None = None
        self._next_prune = 0.0

    # --- the request path (event loop, shadow thread) ---------------------------------------------------------

    def add(self, served: ServedVersion, texts: list[str], answer, request_id: str, latency_s: float) -> None:
        if len(self.queue) < self.queue_size:
            self.queue.append(Record(served, texts, answer, request_id, latency_s, time.time()))
            return
        self._counter(served.labels).dropped.inc(len(texts))
        self._dropped_unreported += len(texts)
        self._report_drops()

    # --- the worker's life --------------------------------------------------------------------------------------

    def start(self) -> None:
        """In the worker (threads do not survive a fork)."""
        self._thread = threading.Thread(target=self._run, name="tagifai-inference-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float = DRAIN_SECONDS) -> None:
        """Write what is queued (within `timeout`), then stop the writer."""
        if self._thread is None:
            return
        self._deadline = time.monotonic() + timeout
        self._stop.set()
        self._thread.join(timeout + 1.0)

    # --- the writer thread --------------------------------------------------------------------------------------

    def _run(self) -> None:
        backlog = False
        while not (self._stop.is_set() if backlog else self._stop.wait(FLUSH_SECONDS)):
            try:
                backlog = self._flush()
                self._chores()
            except Exception:  # noqa: BLE001 - the writer must outlive any surprise; requests never see it
                logger.exception("inference log: unexpected error in the writer")
        while self.queue and time.monotonic() < self._deadline:
            self._flush()
        self._fail(self._take_all())

    def _flush(self) -> bool:
        """Write one batch; True if more is waiting (write again at once)."""
        records, rows, waiting = [], 0, self.queue
        while waiting and rows < MAX_BATCH_ROWS:
            record = waiting.popleft()
            records.append(record)
            rows += len(record.texts)
        if records:
            self._write(records)
        return rows >= MAX_BATCH_ROWS

    def _write(self, records: list[Record]) -> None:
        # No yielding of the GIL between rows: each hand-over costs the event loop more than the writer's work,
        # and the interpreter takes it from this thread anyway when the loop has waited its switch interval.
        rows, kept, facts = [], [], self.facts
        for record in records:
            try:
                answered = facts.of(record)
                made = facts.rows(record, answered)
            except Exception:  # noqa: BLE001 - one odd answer loses its own rows, counted
                logger.warning("inference log: cannot make rows of request %s", record.request_id, exc_info=True)
                self._fail([record])
                continue
            self.window.add(record.served.labels, record.at, answered)
            rows.extend(made)
            kept.append(record)
        if rows and self._insert_retrying(rows):
            self._count(kept, "written")
        elif rows:
            self._fail(kept)

    def _insert_retrying(self, rows: list) -> bool:
        """Insert `rows` in one transaction, retrying transient failures with back-off; False if they are refused
        (or the drain at shutdown runs out of time)."""
        delay = BACKOFF_FIRST_S
        while True:
            try:
                self.database.insert(rows)
            except self.database.transient as exc:
                self.database.forget_table()
                self._went_down(exc, delay)
            except self.database.refused as exc:
                logger.warning("inference log %s refused %d rows: %s", self.uri, len(rows), describe(exc))
                return False
            else:
                self._came_back()
                return True
            if not self._sleep(delay):
                return False
            delay = min(delay * 2, BACKOFF_MAX_S)

    def _sleep(self, seconds: float) -> bool:
        """Wait before a retry; False if the drain at shutdown has no time left for it."""
        if not self._stop.is_set():
            self._stop.wait(seconds)
            return True
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(seconds, remaining))
        return True

    def _chores(self) -> None:
        self.window.publish()
        self._report_drops()
        if self.retention is not None and time.monotonic() >= self._next_prune:
            self._prune()

    def _prune(self) -> None:
        try:
            self.database.ensure_table()
            deleted = retention.prune(self.engine, self.retention)
        except self.database.refused as exc:
            self.database.forget_table()
            logger.warning("inference log %s: pruning failed, retrying in %.0f s: %s", self.uri, PRUNE_RETRY_S,
                           describe(exc))
            self._next_prune = time.monotonic() + PRUNE_RETRY_S
            return
        if deleted:
            logger.warning("inference log %s: pruned %d rows older than %s", self.uri, deleted, self.retention)
        self._next_prune = time.monotonic() + PRUNE_EVERY_S

    # --- bookkeeping ----------------------------------------------------------------------------------------------

    def _counter(self, labels: dict) -> Counters:
        key = tuple(labels.values())
        found = self._counters.get(key)
        if found is None:
            found = self._counters[key] = Counters(*(c.labels(**labels) for c in (
                metrics.LOG_WRITTEN, metrics.LOG_DROPPED, metrics.LOG_FAILED)))
        return found

    def _fail(self, records: Iterable[Record]) -> None:
        self._count(records, "failed")

    def _count(self, records: Iterable[Record], what: str) -> None:
        """Add the records' rows to each one's version and role's `what` counter (one inc per version)."""
        rows: dict[tuple, int] = {}
        labels: dict[tuple, dict] = {}
        for record in records:
            key = tuple(record.served.labels.values())
            rows[key] = rows.get(key, 0) + len(record.texts)
            labels[key] = record.served.labels
        for key, count in rows.items():
            getattr(self._counter(labels[key]), what).inc(count)

    def _take_all(self) -> list[Record]:
        records = []
        while self.queue:
            records.append(self.queue.popleft())
        return records

    def _report_drops(self) -> None:
        now = time.monotonic()
        if self._dropped_unreported and now - self._warned_at >= WARN_EVERY_S:
            dropped, self._dropped_unreported, self._warned_at = self._dropped_unreported, 0, now
            logger.warning("inference log %s: queue full, %d rows dropped (not logged) since the last report",
                           self.uri, dropped)

    def _went_down(self, exc: Exception, delay: float) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            logger.warning("inference log %s unavailable, retrying (back-off %.1f s up to %.0f s): %s", self.uri,
                           delay, BACKOFF_MAX_S, describe(exc))

    def _came_back(self) -> None:
        if self._down_since is not None:
            logger.warning("inference log %s available again after %.1f s", self.uri,
                           time.monotonic() - self._down_since)
            self._down_since = None


def open_log(settings) -> InferenceLog | None:
    """The log `--inference-log` names (None for `none`), checked here, at start."""
    if settings.inference_log.strip().lower() == DISABLED:
        return None
    period = retention.parse_duration(settings.inference_log_retention, "inference_log_retention") \
        if settings.inference_log_retention else None
    return InferenceLog(settings.inference_log, settings.log_inputs, settings.inference_log_queue, period)
