"""`tagifai serve --workers N` forks its workers after loading the model (serving.prefork): the sockets they
listen on, and the supervisor that keeps N of them running. Real sockets and real processes, no uvicorn (the
served end-to-end behaviour is in test_faults.py)."""

from __future__ import annotations

import asyncio.base_events
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from serving.prefork import MAX_QUICK_EXITS, bind_sockets
from harness.ports import free_port, wait_for
from harness.proc import children

HOST = "127.0.0.1"


def accept_all(listener: socket.socket) -> list[socket.socket]:
    listener.setblocking(False)
    accepted = []
    while True:
        try:
            accepted.append(listener.accept()[0])
        except BlockingIOError:
            return accepted


def test_each_worker_gets_its_own_socket_on_the_one_port():
    sockets = bind_sockets(HOST, free_port(), 3)
    try:
        assert len({s.fileno() for s in sockets}) == 3
        assert len({s.getsockname() for s in sockets}) == 1
    finally:
        for s in sockets:
            s.close()


def test_new_connections_are_spread_over_the_workers_sockets():
    """uvicorn's shared socket let one worker take every pending connection; here the kernel spreads them."""
    port = free_port()
    sockets = bind_sockets(HOST, port, 2)
    clients = [socket.create_connection((HOST, port)) for _ in range(32)]  # 2 x 2^-32: all on one by chance
    try:
        time.sleep(0.2)
        per_socket = [accept_all(s) for s in sockets]
        assert sum(len(a) for a in per_socket) == 32
        assert all(per_socket), [len(a) for a in per_socket]
    finally:
        for sock in [*clients, *sockets, *(c for a in per_socket for c in a)]:
            sock.close()


def test_accepted_connections_get_tcp_nodelay_from_asyncio():
    """asyncio sets TCP_NODELAY only on sockets whose protocol reads IPPROTO_TCP (else +40 ms per small answer)."""
    port = free_port()
    (listener,) = bind_sockets(HOST, port, 1)
    with listener, socket.create_connection((HOST, port)):
        connection, _ = listener.accept()
        with connection:
            asyncio.base_events._set_nodelay(connection)
            assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_port_in_use_fails_before_any_worker_starts():
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        with pytest.raises(OSError, match="in use"):
            bind_sockets(HOST, taken.getsockname()[1], 2)


# --- the supervisor, with a stand-in worker (prints its pid, then waits) -------------------------------------------

SUPERVISED = textwrap.dedent("""
    import os, sys, time
    from serving.prefork import Supervisor, bind_sockets

    def work(index, sock):
        if sys.argv[1] == "crash":
            raise RuntimeError("cannot start")
        print(f"worker {os.getpid()} on {sock.getsockname()[1]}", flush=True)
        while True:
            time.sleep(1)

    sys.exit(Supervisor(bind_sockets("127.0.0.1", 0, 2), work, drain_s=1).run())
""")


def start_supervisor(mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SUPERVISED, mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=os.getcwd(),
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_a_dead_worker_is_replaced_and_sigterm_stops_them_all():
    supervisor = start_supervisor("serve")
    try:
        first = wait_for(lambda: len(children(supervisor.pid)) == 2 and set(children(supervisor.pid)), 20,
                         "two workers")
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        now = wait_for(lambda: len(children(supervisor.pid)) == 2 and victim not in children(supervisor.pid)
                       and set(children(supervisor.pid)), 20, "a new worker for the killed one")
        assert len(now - first) == 1  # one new worker, the other untouched
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=20) == 0
        for pid in now:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert f"worker {victim} ended (signal 9); starting a new one" in supervisor.stderr.read()
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


def test_workers_that_cannot_start_make_the_supervisor_give_up():
    supervisor = start_supervisor("crash")
    code = supervisor.wait(timeout=30)
    log = supervisor.stderr.read()
    assert code == 1
    assert log.count("RuntimeError: cannot start") >= MAX_QUICK_EXITS
    assert "workers keep failing at start, stopping" in log
