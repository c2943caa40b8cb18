"""The accuracy estimate and its Poisson-binomial uncertainty."""

from __future__ import annotations

import math

import numpy as np

from monitoring.estimate import estimate_accuracy


def test_the_estimate_is_the_mean_confidence_with_the_poisson_binomial_deviation():
    e = estimate_accuracy(np.full(100, 0.5))
    assert (e.accuracy, e.rows) == (0.5, 100)
    assert math.isclose(e.std, 0.05)
    assert math.isclose(e.low, 0.5 - 1.959964 * 0.05) and math.isclose(e.high, 0.5 + 1.959964 * 0.05)


def test_certain_predictions_have_no_spread_and_the_interval_stays_within_0_1():
    e = estimate_accuracy(np.ones(10))
    assert (e.accuracy, e.std, e.high) == (1.0, 0.0, 1.0)
    assert estimate_accuracy(np.array([0.99, 0.9])).high <= 1.0


def test_more_rows_narrow_the_interval():
    rng = np.random.default_rng(0)
    assert estimate_accuracy(rng.uniform(0.6, 1, 1000)).std < estimate_accuracy(rng.uniform(0.6, 1, 100)).std
