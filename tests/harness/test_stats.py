"""harness.stats: the nearest-rank percentile, checked against worked answers."""

from __future__ import annotations

import math
import random

import pytest

from harness.stats import latency_summary, percentile


@pytest.mark.parametrize(("q", "want"), [(5, 15), (30, 20), (40, 20), (50, 35), (100, 50), (0, 15)])
def test_nearest_rank_on_the_textbook_example(q, want):
    # Five values, nearest rank = ceil(q/100 * 5): 5 % -> 1st, 30 % -> 2nd, 40 % -> 2nd, 50 % -> 3rd, 100 % -> 5th.
    assert percentile([15, 20, 35, 40, 50], q) == want


@pytest.mark.parametrize(("q", "want"), [(50, 50), (90, 90), (99, 99), (99.5, 100), (1, 1), (100, 100)])
def test_one_to_a_hundred(q, want):
    values = list(range(1, 101))
    random.Random(3).shuffle(values)  # order of the input does not matter
    assert percentile(values, q) == want


def test_an_even_count_gives_a_measured_value_not_an_interpolation():
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([1.0, 2.0, 3.0, 10.0], 99) == 10.0
    assert percentile([7.0], 99) == 7.0


def test_no_values_is_nan_and_q_out_of_range_is_refused():
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1, 2], 101)


def test_latency_summary_in_milliseconds():
    seconds = [i / 1000 for i in range(1, 101)]
    assert latency_summary(seconds) == pytest.approx({"p50_ms": 50.0, "p99_ms": 99.0})
    assert latency_summary(seconds, (50, 90), digits=0) == {"p50_ms": 50.0, "p90_ms": 90.0}
    assert math.isnan(latency_summary([])["p50_ms"])
