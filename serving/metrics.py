"""Prometheus metrics. With several workers, PROMETHEUS_MULTIPROC_DIR (set by the launcher) merges them."""

from __future__ import annotations

import collections
import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

from serving.scoring import tags_of

LABELS = ("model_name", "model_version", "role")  # role: champion or challenger
STAGES = ("parse", "validate", "queue", "predict", "serialize")  # /invocations' stages, in order
# Fine below 50 ms, where one-row answers live: GET /models and `tagifai compare-live` read p50/p99 from them.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
                   0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter("tagifai_requests_total", "HTTP requests by path and status.", ("path", "status", *LABELS))
LATENCY = Histogram(
    "tagifai_request_latency_seconds", "Request latency.", ("path", *LABELS), buckets=LATENCY_BUCKETS,
)
STAGE_LATENCY = Histogram(
    "tagifai_stage_latency_seconds", "/invocations time by stage (parse, validate, queue, predict, serialize); "
    "batched requests share their batch's predict time.", ("stage", *LABELS), buckets=LATENCY_BUCKETS,
)
ROWS = Counter("tagifai_rows_scored_total", "Rows scored by /invocations.", LABELS)
CACHE = Counter("tagifai_prediction_cache_total", "Prediction cache lookups (TAGIFAI_SERVE_CACHE_SIZE > 0), by result.",
                ("result", *LABELS))
RELOADS = Counter("tagifai_model_reloads_total", "Versions a worker loaded to follow its alias, by result (ok, "
                  "failed: refused, the old version kept serving).", ("result", *LABELS))
PREDICTED_TAGS = Counter("tagifai_predicted_tags_total", "Rows answered, by predicted tag (in shadow mode the "
                         "challenger's rows are the ones it scored off the response path).", ("tag", *LABELS))
SHADOW_ROWS = Counter("tagifai_shadow_rows_total", "Rows the challenger scored in shadow mode.", LABELS)
SHADOW_AGREED = Counter("tagifai_shadow_agreed_rows_total", "Shadow rows where the challenger predicted the "
                        "champion's tag.", LABELS)
SHADOW_TOP_DIFF = Counter("tagifai_shadow_top_probability_abs_diff_total", "Sum over shadow rows of |champion's "
                          "top probability - the challenger's probability of that tag|.", LABELS)
SHADOW_ERRORS = Counter("tagifai_shadow_errors_total", "Shadow requests the challenger failed on.", LABELS)
SHADOW_DROPPED = Counter("tagifai_shadow_dropped_total", "Shadow requests dropped because the challenger's queue "
                         "was full.", ("model_name",))
SHADOW_LATENCY = Histogram("tagifai_shadow_latency_seconds", "The challenger's time to score a shadow request.",
                           LABELS, buckets=LATENCY_BUCKETS)
REGISTRY_ERRORS = Counter("tagifai_registry_unreachable_total", "Times a worker found the registry unreachable "
                          "(counted once per outage).", ("model_name",))

# The inference log (serving/inference_log.py). Rows, not requests: written + dropped + failed = rows logged.
LOG_WRITTEN = Counter("tagifai_inference_log_written_total", "Rows written to the inference log.", LABELS)
LOG_DROPPED = Counter("tagifai_inference_log_dropped_total", "Rows not logged because the inference log's queue "
                      "was full (the database slow or down).", LABELS)
LOG_FAILED = Counter("tagifai_inference_log_failed_total", "Rows the inference log gave up on: refused by the "
                     "database, or still unwritten when the worker stopped.", LABELS)
# Live gauges over a sliding window (serving/live_window.py): sums and counts, never ratios, so that with
# --workers N the workers' values add up ("livesum": a dead worker's values leave with it) and a dashboard
# divides, e.g. sum(tagifai_live_tag_rows) by (tag) / ignoring(tag) sum(tagifai_live_rows).
LIVE_ROWS = Gauge("tagifai_live_rows", "Rows in the live window (per worker: the last 1000 rows of the last 5 "
                  "minutes).", LABELS, multiprocess_mode="livesum")
LIVE_TAG_ROWS = Gauge("tagifai_live_tag_rows", "Rows in the live window by predicted tag.", ("tag", *LABELS),
                      multiprocess_mode="livesum")
LIVE_CONFIDENCE_SUM = Gauge("tagifai_live_confidence_sum", "Sum of the confidences of the rows in the live window.",
                            LABELS, multiprocess_mode="livesum")
LIVE_OOV_ROWS = Gauge("tagifai_live_oov_rows", "Rows in the live window with an OOV share (the model has a "
                      "vocabulary).", LABELS, multiprocess_mode="livesum")
LIVE_OOV_SUM = Gauge("tagifai_live_oov_share_sum", "Sum of the OOV shares of the rows in the live window.", LABELS,
                     multiprocess_mode="livesum")

# Only known paths become label values, so a scan of random URLs cannot blow up the series count.
KNOWN_PATHS = frozenset(
    {"/invocations", "/ping", "/health", "/version", "/metrics", "/livez", "/readyz", "/openapi.json", "/docs", "/",
     "/models", "/args", "/performance"}
)


def path_label(path: str) -> str:
    if path.startswith("/args/"):
        return "/args/{arg}"
    if path.startswith("/predictions/"):  # one series for every id (GET /predictions/{id})
        return "/predictions/{id}"
    return path if path in KNOWN_PATHS or path == "/predictions" else "other"


class RequestSeries:
    """One version's request series (requests, latency, stage latency), each labelled child looked up once:
    `labels(...)` sorts and joins its label values under a lock, several times per request otherwise."""

    def __init__(self, labels: dict):
        self.labels = labels
        self._requests: dict[tuple[str, int], Any] = {}
        self._latency: dict[str, Any] = {}
        self.stages = {stage: STAGE_LATENCY.labels(stage=stage, **labels) for stage in STAGES}

    def observe(self, path: str, status: int, seconds: float) -> None:
        counter = self._requests.get((path, status))
        if counter is None:
            counter = self._requests[path, status] = REQUESTS.labels(path=path, status=str(status), **self.labels)
        counter.inc()
        latency = self._latency.get(path)
        if latency is None:
            latency = self._latency[path] = LATENCY.labels(path=path, **self.labels)
        latency.observe(seconds)

    def observe_stages(self, timing: dict) -> None:
        for stage, seconds in timing.items():
            self.stages[stage].observe(seconds)


_SERIES: dict[tuple, RequestSeries] = {}


def request_series(labels: dict) -> RequestSeries:
    """The series of the version with these labels (made on first use; a handful of versions per process)."""
    key = tuple(labels.values())
    series = _SERIES.get(key)
    if series is None:
        series = _SERIES[key] = RequestSeries(labels)
    return series


def answer_counter(labels: dict):
    """A callback for a scorer's answers: rows scored, and rows by predicted tag."""
    rows, by_tag = ROWS.labels(**labels), {}

    def count(answer) -> None:
        tags = collections.Counter(tags_of(answer))
        rows.inc(sum(tags.values()))
        for tag, n in tags.items():
            if tag not in by_tag:
                by_tag[tag] = PREDICTED_TAGS.labels(tag=tag, **labels)
            by_tag[tag].inc(n)

    return count


def registry() -> CollectorRegistry:
    """Every worker's metrics (the multiprocess files) when there are several, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return merged
    return REGISTRY


def worker_gone(pid: int) -> None:
    """A forked worker ended: its live gauges leave the sums (its counters stay, as counters do)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


def render() -> tuple[bytes, str]:
    return generate_latest(registry()), CONTENT_TYPE_LATEST
