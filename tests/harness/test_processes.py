"""harness.processes and harness.proc against real processes: a group with a sleeping child is stopped whole,
readiness waits notice a process that exits, /proc readings of this process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.ports import wait_for
from harness.proc import (children, command_line, group_cpu_seconds, group_members, proc_stat, ready_pids,
                          rss_kib, worker_pids)
from harness.processes import group_alive, log_text, start_logged, stop_group, wait_up, wait_workers_ready
from serving.uvicorn_server import READY_LINE

# A parent that starts a sleeping child (same group), prints the child's pid and sleeps; it ignores SIGTERM,
# so stop_group has to go on to SIGKILL for it.
PARENT = textwrap.dedent("""
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"child {child.pid}", flush=True)
    time.sleep(600)
""")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_stop_group_kills_the_process_and_its_sleeping_child(tmp_path):
    log_path = tmp_path / "parent.log"
    process = start_logged([sys.executable, "-c", PARENT], log_path)
    try:
        line = wait_up(process, lambda: "child " in log_text(log_path) and log_text(log_path), 30, "the child",
                       log_path, interval=0.02)
        child = int(line.split()[1])
        assert children(process.pid) == [child]
        assert os.getpgid(child) == process.pid  # its own session: the parent leads the group
        assert set(group_members(process.pid)) == {process.pid, child}
        assert group_alive(process.pid)
    finally:
        stop_group(process, term_grace=0.5, kill_grace=10)
    assert process.returncode is not None
    assert not group_alive(process.pid)
    wait_for(lambda: not alive(child), 10, "the child gone")


def test_wait_up_fails_at_once_when_the_process_exits_and_shows_its_log(tmp_path):
    log_path = tmp_path / "dies.log"
    process = start_logged([sys.executable, "-c", "print('cannot start: no model'); raise SystemExit(3)"], log_path)
    with pytest.raises(RuntimeError, match=r"(?s)exited with code 3.*cannot start: no model"):
        wait_up(process, lambda: False, 30, "server ready", log_path, interval=0.02)


def test_wait_up_times_out_with_the_log_tail(tmp_path):
    log_path = tmp_path / "slow.log"
    process = start_logged([sys.executable, "-c", "print('still loading', flush=True); import time; time.sleep(60)"],
                           log_path)
    try:
        wait_for(lambda: log_text(log_path), 30, "the first line")
        with pytest.raises(TimeoutError, match=r"(?s)not within 0.3s: server ready.*still loading"):
            wait_up(process, lambda: False, 0.3, "server ready", log_path, interval=0.02)
    finally:
        stop_group(process, term_grace=5)


def test_readings_of_this_process():
    me = os.getpid()
    assert rss_kib(me) > 0
    assert rss_kib(2**22 + 12345) == 0  # no such pid
    assert "python" in command_line(me) or "pytest" in command_line(me)
    stat = proc_stat(me)
    assert stat.ppid == os.getppid() and stat.pgrp == os.getpgrp() and stat.cpu_s > 0
    assert group_cpu_seconds(os.getpgrp()) >= stat.cpu_s
    assert worker_pids(me) == []  # pytest's children do not carry its command line


def test_ready_pids_reads_the_servers_ready_line():
    log = "\n".join(["starting", READY_LINE.format(pid=101), "noise worker 7 ready later",
                     READY_LINE.format(pid=202)])
    assert ready_pids(log) == {101, 202}


# A launcher that forks two workers (same command line, like `tagifai serve --workers 2`); each prints the ready
# line with its pid, then sleeps.
FORKING = textwrap.dedent("""
    import os, sys, time
    line = sys.argv[1]
    for _ in range(2):
        if os.fork() == 0:
            sys.stdout.write(line.format(pid=os.getpid()) + "\\n")  # one write, as serving.uvicorn_server does
            sys.stdout.flush()
            time.sleep(600)
            os._exit(0)
    time.sleep(600)
""")


def test_forked_workers_are_found_and_waited_for_until_ready(tmp_path):
    log_path = tmp_path / "launcher.log"
    process = start_logged([sys.executable, "-c", FORKING, READY_LINE], log_path)
    try:
        ready = wait_workers_ready(process, log_path, 2, timeout=30)
        assert sorted(ready) == worker_pids(process.pid) == sorted(children(process.pid))
        assert ready_pids(log_text(log_path)) == set(ready)
    finally:
        stop_group(process, term_grace=5)
    assert not group_alive(process.pid)
