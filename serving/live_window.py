"""The live gauges: per served version and role, the rows of a sliding window (the last WINDOW_ROWS rows of this
worker, none older than WINDOW_SECONDS), as Prometheus sums and counts (serving.metrics.LIVE_*). Fed by the
inference log's writer thread, never by the request path."""

from __future__ import annotations

import time
from collections import deque

from serving import metrics
from serving.log_rows import Answered

WINDOW_ROWS = 1000
WINDOW_SECONDS = 300.0


class Series:
    """One (model_name, model_version, role)'s window, with running sums (no pass over the window per update)."""

    def __init__(self, labels: dict):
        self.labels = labels
        self.rows: deque[tuple[float, str, float, float | None]] = deque()  # (when, tag, confidence, oov)
        self.tags: dict[str, int] = {}
        self.confidence = 0.0
        self.oov_rows, self.oov = 0, 0.0
        self._gauges = {name: gauge.labels(**labels) for name, gauge in (
            ("rows", metrics.LIVE_ROWS), ("confidence", metrics.LIVE_CONFIDENCE_SUM),
            ("oov_rows", metrics.LIVE_OOV_ROWS), ("oov", metrics.LIVE_OOV_SUM))}
        self._tag_gauges: dict[str, object] = {}

    def add(self, when: float, tag: str, confidence: float, oov: float | None) -> None:
        self.rows.append((when, tag, confidence, oov))
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.confidence += confidence
        if oov is not None:
            self.oov_rows, self.oov = self.oov_rows + 1, self.oov + oov
        if len(self.rows) > WINDOW_ROWS:
            self._pop()

    def expire(self, now: float) -> None:
        while self.rows and self.rows[0][0] < now - WINDOW_SECONDS:
            self._pop()

    def _pop(self) -> None:
        _, tag, confidence, oov = self.rows.popleft()
        self.tags[tag] -= 1
        self.confidence -= confidence
        if oov is not None:
            self.oov_rows, self.oov = self.oov_rows - 1, self.oov - oov
        if not self.rows:  # exactly zero, not a float residue
            self.confidence = self.oov = 0.0

    def publish(self) -> None:
        values = {"rows": len(self.rows), "confidence": self.confidence, "oov_rows": self.oov_rows, "oov": self.oov}
        for name, value in values.items():
            self._gauges[name].set(value)
        for tag, count in self.tags.items():
            gauge = self._tag_gauges.get(tag)
            if gauge is None:
                gauge = self._tag_gauges[tag] = metrics.LIVE_TAG_ROWS.labels(tag=tag, **self.labels)
            gauge.set(count)


class LiveWindow:
    def __init__(self):
        self.series: dict[tuple, Series] = {}

    def add(self, labels: dict, when: float, answered: list[Answered]) -> None:
        """`answered`: one request's texts with their answers, answered at `when` (epoch s)."""
        key = tuple(labels.values())
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = Series(labels)
        for one in answered:
            series.add(when, one.tag, one.confidence, one.oov_share)

    def publish(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for series in self.series.values():
            series.expire(now)
            series.publish()
