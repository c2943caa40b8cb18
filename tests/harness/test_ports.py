"""harness.ports: a free port can be bound, `listening` sees a listener, wait_for polls and says what timed out,
returns_within tells a call that waits from one that does not."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from harness.ports import free_port, listening, returns_within, wait_for


def test_free_port_can_be_bound_and_listened_on():
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert listening(port)
    assert not listening(port)


def test_wait_for_returns_the_first_truthy_value():
    calls = []

    def third_time():
        calls.append(1)
        return len(calls) >= 3 and "done"

    assert wait_for(third_time, 5, "three calls", interval=0.001) == "done"
    assert len(calls) == 3


def test_wait_for_times_out_with_a_message_that_names_the_condition():
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^not within 0.2s: the moon rising$"):
        wait_for(lambda: None, 0.2, "the moon rising", interval=0.01)
    assert 0.2 <= time.monotonic() - started < 2


def test_wait_for_lets_the_condition_raise():
    def broken():
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        wait_for(broken, 5)


def test_returns_within_tells_a_call_that_waits_from_one_that_does_not():
    never = threading.Event()
    with pytest.raises(TimeoutError, match=r"^still waiting after 0.2s: a wait on an unset event$"):
        returns_within(never.wait, 0.2, "a wait on an unset event")
    returns_within(lambda: None, 5, "a call that returns at once")
    with pytest.raises(ValueError, match="raised in the thread"):
        returns_within(lambda: int("raised in the thread"), 5, "a call that raises")
