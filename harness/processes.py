"""A server (or any long-running command) started in its own session, its log in a file, waited for, stopped.

The session makes the process the leader of a new process group: stop_group ends it with everything it
started (workers, helpers), whatever happens to the test or benchmark that started it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from harness.http import answers_ok
from harness.ports import wait_for
from harness.proc import ready_workers

T = TypeVar("T")


def start_logged(command: list[str], log_path: Path, env: dict[str, str] | None = None,
                 cwd: Path | str | None = None) -> subprocess.Popen:
    """Start `command` in a new session, stdout and stderr to `log_path`, no stdin."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def log_text(log_path: Path | None, tail: int | None = None) -> str:
    """The log so far ("" before it exists); `tail`: its last lines only."""
    text = log_path.read_text(errors="replace") if log_path is not None and log_path.exists() else ""
    return text if tail is None else "\n".join(text.splitlines()[-tail:])


def wait_up(process: subprocess.Popen, condition: Callable[[], T], timeout: float, what: str,
            log_path: Path | None = None, interval: float = 0.25, tail: int = 60) -> T:
    """wait_for(condition) while `process` runs: RuntimeError as soon as it exits, TimeoutError after `timeout`;
    both messages end with the last `tail` lines of its log."""
    def check() -> T:
        if process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with code {process.returncode} first:\n"
                               f"{log_text(log_path, tail)}")
        return condition()

    try:
        return wait_for(check, timeout, what, interval)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}\n{log_text(log_path, tail)}") from None


def wait_http_ok(process: subprocess.Popen, url: str, timeout: float, log_path: Path | None = None) -> None:
    """Until GET `url` answers 200 (e.g. http://127.0.0.1:<port>/ping)."""
    wait_up(process, lambda: answers_ok(url), timeout, f"200 from {url}", log_path)


def wait_workers_ready(process: subprocess.Popen, log_path: Path, workers: int, timeout: float) -> list[int]:
    """Until `workers` forked workers of `tagifai serve --workers N` said in the log that they are ready."""
    def ready() -> list[int] | None:
        found = ready_workers(process.pid, log_text(log_path))
        return found if len(found) >= workers else None

    return wait_up(process, ready, timeout, f"{workers} workers ready", log_path)


@contextmanager
def running(command: list[str], log_path: Path, ready_url: str | None = None, timeout: float = 60.0,
            env: dict[str, str] | None = None, cwd: Path | str | None = None) -> Iterator[subprocess.Popen]:
    """`command` started with start_logged; yielded once GET `ready_url` answers 200 (if given); its whole
    process group stopped on the way out."""
    process = start_logged(command, log_path, env=env, cwd=cwd)
    try:
        if ready_url is not None:
            wait_http_ok(process, ready_url, timeout, log_path)
        yield process
    finally:
        stop_group(process)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(process: subprocess.Popen, term_grace: float = 15.0, kill_grace: float = 10.0) -> None:
    """TERM the process's whole group (launcher, workers, helpers), then KILL what is left after `term_grace` s.
    The process must lead its group (started with start_new_session=True, as start_logged does)."""
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
