"""Ports on this machine, polling until something holds, and checking that a call does not wait."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def listening(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on host:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def wait_for(condition: Callable[[], T], timeout: float, what: str = "condition", interval: float = 0.05) -> T:
    """The first truthy value of `condition()`, polled every `interval` seconds.

    TimeoutError("not within <timeout>s: <what>") after `timeout` seconds; whatever `condition` raises goes through.
    """
    deadline = time.monotonic() + timeout
    while True:
        if value := condition():
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not within {timeout:g}s: {what}")
        time.sleep(interval)


def returns_within(call: Callable[[], object], timeout: float, what: str) -> None:
    """Run `call` in a thread; TimeoutError("still waiting after <timeout>s: <what>") if it has not returned by then.

    For "does not wait" checks, arranged so that nothing could ever release a call that waits (no consumer, no
    writer): then a generous timeout tells waiting from not waiting however slow the machine is at the moment.
    Whatever `call` raises is raised here.
    """
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # handed to the caller's thread below
            raised.append(error)

    thread = threading.Thread(target=run, name=f"returns-within: {what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"still waiting after {timeout:g}s: {what}")
    if raised:
        raise raised[0]
