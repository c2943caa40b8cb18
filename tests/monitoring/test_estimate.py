"""The accuracy estimate and its Poisson-binomial uncertainty; the options' checks before anything is read."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitoring.errors import MonitorInputError
from monitoring.estimate import estimate_accuracy
from monitoring.monitor import role_and_uri, since_duration


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


@pytest.mark.parametrize("value", ["", "24", "-1h", "0d", "2 months"])
def test_since_must_be_a_duration(value):
    with pytest.raises(MonitorInputError, match="--since must be a positive duration"):
        since_duration(value)


def test_since_reads_the_units():
    assert since_duration("90m").total_seconds() == 5400 and since_duration("2w").days == 14


def test_the_role_follows_the_alias_and_the_uri_follows_the_role():
    assert role_and_uri(None, None) == ("champion", "models:/tagifai@champion")
    assert role_and_uri(None, "challenger") == ("challenger", "models:/tagifai@challenger")
    assert role_and_uri("models:/m@challenger", None) == ("challenger", "models:/m@challenger")
    assert role_and_uri("models:/m/3", None) == ("champion", "models:/m/3")
    with pytest.raises(MonitorInputError, match="--role must be one of champion, challenger"):
        role_and_uri(None, "shadow")
