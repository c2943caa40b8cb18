"""A running server's processes seen from outside (Linux /proc), and stopping them: one place for the tests,
the soak script and the benchmarks, which all start servers in their own session (process group)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar
from pathlib import Path

from serving.uvicorn_server import READY_LINE

T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], T], timeout: float, what: str = "condition", interval: float = 0.05) -> T:
    """The first truthy value of `condition()`, polled every `interval` seconds; TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(interval)
    raise TimeoutError(f"not within {timeout:.0f}s: {what}")


_READY = re.compile("^" + re.escape(READY_LINE).replace(re.escape("{pid}"), r"(\d+)") + "$", re.MULTILINE)


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def worker_pids(pid: int) -> list[int]:
    """The workers of `tagifai serve --workers N`: forked, so they carry the launcher's command line.
    None with one worker (it serves in the launcher's process)."""
    own = command_line(pid)
    return sorted(c for c in children(pid) if own and command_line(c) == own)


def ready_workers(pid: int, log_text: str) -> list[int]:
    """Workers alive now that said in the server's log that they accept connections."""
    ready = {int(p) for p in _READY.findall(log_text)}
    return [w for w in worker_pids(pid) if w in ready]


def rss_kib(pid: int) -> int:
    """Resident memory of one process (VmRSS), in KiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(process: subprocess.Popen, term_grace: float = 15.0, kill_grace: float = 10.0) -> None:
    """TERM the process's whole group (launcher, workers, helpers), then KILL what is left after `term_grace` s."""
    for sig, grace in ((signal.SIGTERM, term_grace), (signal.SIGKILL, kill_grace)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and (process.poll() is None or group_alive(process.pid)):
            time.sleep(0.1)
        if process.poll() is not None and not group_alive(process.pid):
            break
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
