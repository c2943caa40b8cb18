"""A running server's processes seen from outside, through Linux /proc: children, workers, memory, CPU."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from serving.uvicorn_server import READY_LINE

_READY = re.compile("^" + re.escape(READY_LINE).replace(re.escape("{pid}"), r"(\d+)") + "$", re.MULTILINE)


def children(pid: int) -> list[int]:
    """The direct children of `pid` (all its threads'), [] if it is gone."""
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


def command_line(pid: int, limit: int | None = None) -> str:
    """The process's command line, arguments joined by spaces ("" if it is gone); `limit`: first bytes only."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw[:limit].replace(b"\0", b" ").decode(errors="replace")


def worker_pids(pid: int) -> list[int]:
    """The workers of `tagifai serve --workers N`: forked, so they carry the launcher's command line.
    None with one worker (it serves in the launcher's process)."""
    own = command_line(pid)
    return sorted(c for c in children(pid) if own and command_line(c) == own)


def ready_pids(log_text: str) -> set[int]:
    """The pids that said in a server's log that they accept connections (serving.uvicorn_server.READY_LINE)."""
    return {int(p) for p in _READY.findall(log_text)}


def ready_workers(pid: int, log_text: str) -> list[int]:
    """Workers alive now that said in the server's log that they accept connections."""
    ready = ready_pids(log_text)
    return [w for w in worker_pids(pid) if w in ready]


def _status_kib(pid: int, name: str, file: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_kib(pid: int) -> int:
    """Resident memory of one process (VmRSS), in KiB; 0 if it is gone."""
    return _status_kib(pid, "VmRSS:")


def pss_kib(pid: int) -> int:
    """Proportional set size (pages shared with n processes count 1/n), in KiB; 0 if it is gone or unreadable."""
    return _status_kib(pid, "Pss:", "smaps_rollup")


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat the benchmarks use; CPU in seconds."""

    pid: int
    comm: str
    ppid: int
    pgrp: int
    cpu_s: float  # utime + stime
    children_cpu_s: float  # cutime + cstime: reaped children


def proc_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    comm, fields = raw[raw.index("(") + 1:raw.rindex(")")], raw[raw.rindex(")") + 2:].split()
    return ProcStat(pid, comm, int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / tick,
                    (int(fields[13]) + int(fields[14])) / tick)


def proc_table() -> dict[int, ProcStat]:
    """Every process readable now: pid -> its ProcStat."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := proc_stat(int(entry))) is not None:
            table[stat.pid] = stat
    return table


def group_members(pgid: int, table: dict[int, ProcStat] | None = None) -> dict[int, ProcStat]:
    """The processes of one process group (a server started in its own session: launcher, workers, helpers)."""
    return {pid: s for pid, s in (table or proc_table()).items() if s.pgrp == pgid}


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in the group, from /proc."""
    return sum(s.cpu_s for s in group_members(pgid).values())


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets a process has open (its /proc/<pid>/fd links `socket:[N]`); empty if it is gone."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return set()
    inodes = set()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes
