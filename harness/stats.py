"""Latency figures: one percentile for every benchmark, script and test.

The percentile is the nearest-rank one: the smallest value such that at least q % of the values are <= it,
i.e. sorted(values)[ceil(q/100 * n) - 1] (q = 0 gives the minimum). Always one of the measured values, never an
interpolation between two: "p99 = 12 ms" means 99 % of the requests took at most 12 ms, and one request did.
This is what docs/benchmarks.md reports as p50 / p90 / p99.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 <= q <= 100) of `values`; NaN if there are none."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def latency_summary(seconds: Sequence[float], quantiles: Iterable[float] = (50, 99), scale: float = 1e3,
                    unit: str = "ms", digits: int | None = None) -> dict[str, float]:
    """{"p50_ms": ..., "p99_ms": ...} of latencies given in seconds (`scale` 1e3: in ms; `digits`: rounded)."""
    def show(x: float) -> float:
        return x if digits is None or math.isnan(x) else round(x, digits)

    return {f"p{q:g}_{unit}": show(percentile(seconds, q) * scale) for q in quantiles}
