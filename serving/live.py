"""Live figures per role and version, read from the Prometheus metrics of every worker (the multiprocess
files when there are several): requests, errors, p50/p99, predicted-tag shares, and in shadow mode the
challenger's agreement with the champion. What GET /models and `tagifai compare-live` show."""

from __future__ import annotations

from collections import defaultdict

from serving import metrics

INVOCATIONS = "/invocations"


def figures() -> dict[tuple[str, str], dict]:
    """(role, version) -> its figures since it was loaded, over all workers."""
    counts: dict[tuple[str, str], dict] = defaultdict(lambda: defaultdict(float))
    buckets: dict[tuple[str, str], dict[float, float]] = defaultdict(lambda: defaultdict(float))
    tags: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for family in metrics.registry().collect():
        for sample in family.samples:
            labels = sample.labels
            if "role" not in labels:
                continue
            key = (labels["role"], labels["model_version"])
            _add(sample, labels, key, counts[key], buckets, tags)
    return {key: _figures(counts[key], buckets.get(key, {}), tags.get(key, {})) for key in counts}


def _add(sample, labels: dict, key, counts: dict, buckets: dict, tags: dict) -> None:
    name, value = sample.name, sample.value
    if name == "tagifai_requests_total" and labels.get("path") == INVOCATIONS:
        counts["requests"] += value
        counts["errors"] += value if int(labels["status"]) >= 400 else 0
    elif name == "tagifai_request_latency_seconds_bucket" and labels.get("path") == INVOCATIONS:
        buckets[key][float(labels["le"])] += value
    elif name == "tagifai_shadow_latency_seconds_bucket":
        buckets[key][float(labels["le"])] += value
    elif name == "tagifai_shadow_latency_seconds_count":
        counts["requests"] += value
    elif name == "tagifai_shadow_errors_total":
        counts["errors"] += value
        counts["requests"] += value
    elif name == "tagifai_predicted_tags_total":
        tags[key][labels["tag"]] += value
    elif name == "tagifai_shadow_rows_total":
        counts["shadow_rows"] += value
    elif name == "tagifai_shadow_agreed_rows_total":
        counts["agreed"] += value
    elif name == "tagifai_shadow_top_probability_abs_diff_total":
        counts["top_diff"] += value


def _figures(counts: dict, buckets: dict[float, float], tags: dict[str, float]) -> dict:
    rows = sum(tags.values())
    out = {"requests": int(counts["requests"]), "errors": int(counts["errors"]),
           "p50_ms": _quantile(buckets, 0.5), "p99_ms": _quantile(buckets, 0.99),
           "rows": int(rows), "tag_shares": {t: round(n / rows, 4) for t, n in sorted(tags.items())} if rows else {}}
    if counts["shadow_rows"]:
        out["agreement"] = round(counts["agreed"] / counts["shadow_rows"], 4)
        out["mean_abs_top_probability_diff"] = round(counts["top_diff"] / counts["shadow_rows"], 4)
    return out


def _quantile(buckets: dict[float, float], q: float) -> float | None:
    """Like PromQL's histogram_quantile: linear within the bucket that holds the q-th observation (ms)."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]  # +Inf holds every observation
    if total == 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if bound == float("inf"):
                return round(lower * 1000, 3)
            share = (rank - below) / (buckets[bound] - below) if buckets[bound] > below else 0.0
            return round((lower + (bound - lower) * share) * 1000, 3)
        lower, below = bound, buckets[bound]
    return round(lower * 1000, 3)
