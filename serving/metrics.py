"""Prometheus metrics. With several workers, PROMETHEUS_MULTIPROC_DIR (set by the launcher) merges them."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess

LABELS = ("model_name", "model_version")

REQUESTS = Counter("tagifai_requests_total", "HTTP requests by path and status.", ("path", "status", *LABELS))
LATENCY = Histogram(
    "tagifai_request_latency_seconds", "Request latency.", ("path", *LABELS),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ROWS = Counter("tagifai_rows_scored_total", "Rows scored by /invocations.", LABELS)
CACHE = Counter("tagifai_prediction_cache_total", "Prediction cache lookups (TAGIFAI_SERVE_CACHE_SIZE > 0), by result.",
                ("result", *LABELS))

# Only known paths become label values, so a scan of random URLs cannot blow up the series count.
KNOWN_PATHS = frozenset(
    {"/invocations", "/ping", "/health", "/version", "/metrics", "/livez", "/readyz", "/openapi.json", "/docs"}
)


def path_label(path: str) -> str:
    if path.startswith("/predictions/"):  # one series for every id (GET /predictions/{id})
        return "/predictions/{id}"
    return path if path in KNOWN_PATHS or path == "/predictions" else "other"


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
