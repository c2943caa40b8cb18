"""The options' checks before anything is read: --since, --role and the URI it implies, durations shown."""

from __future__ import annotations

import pytest

from monitoring.errors import MonitorInputError
from monitoring.monitor import role_and_uri, since_duration
from monitoring.retention import format_duration


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


@pytest.mark.parametrize("text, shown", [("24h", "1d"), ("90m", "90m"), ("2w", "2w"), ("1.5h", "90m"), ("45s", "45s")])
def test_durations_are_shown_in_their_largest_whole_unit(text, shown):
    assert format_duration(since_duration(text)) == shown
