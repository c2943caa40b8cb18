"""`tagifai serve --workers N` (N > 1): build the app once, then fork N workers that share it.

Why not uvicorn's own `--workers`: it spawns fresh interpreters, each importing MLflow and loading the model
again (a 2-worker cold start took 7.7 s against 3.3 s for one worker), and all its workers accept from one
shared socket, where asyncio's accept loop lets whichever worker wakes first take every pending connection:
8 keep-alive clients could all land on one worker (2 workers gave 0.96-1.33x the requests/s of one).

Here the launcher has already imported everything and loaded the model; it binds one SO_REUSEPORT socket per
worker, so the kernel spreads new connections over the workers, and forks. The workers share the model's
memory copy-on-write. The supervisor (this process) replaces a worker that dies, on the same socket, and on
SIGTERM/SIGINT tells every worker to drain (uvicorn's graceful shutdown) and waits for them.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable

from serving import metrics, uvicorn_server

QUICK_EXIT_S = 10.0  # a worker that dies sooner than this after its start did not fail under load ...
MAX_QUICK_EXITS = 5  # ... and this many in a row means it cannot start: give up instead of forking forever
KILL_AFTER_S = 10.0  # past the drain window, workers still running are killed


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """One listening socket per worker on the same address (raises OSError here, before any fork)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets = []
    try:
        for _ in range(count):
            # proto IPPROTO_TCP, not 0: asyncio turns TCP_NODELAY on only for such sockets' connections, and
            # without it a small answer waits up to 40 ms for the client's delayed ACK.
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(2048)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Supervisor:
    """Fork `run(index, sock)` once per socket; replace workers that die; stop them all on SIGTERM/SIGINT."""

    def __init__(self, sockets: list[socket.socket], run: Callable[[int, socket.socket], None], drain_s: float):
        self.sockets, self.run_worker, self.drain_s = sockets, run, drain_s
        self.workers: dict[int, tuple[int, float]] = {}  # pid -> (socket index, start time)
        self.stop_deadline: float | None = None
        self.stop_requested = False  # set by the signal handler; acted on by the loop (no I/O in a handler)
        self.quick_exits = 0

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        for index in range(len(self.sockets)):
            self._fork(index)
        return self._supervise()

    def _fork(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the launcher's code (no atexit, no supervisor loop)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            for other, sock in enumerate(self.sockets):  # else a stopped worker's socket would stay open here
                if other != index:
                    sock.close()
            code = 1
            try:
                self.run_worker(index, self.sockets[index])
                code = 0
            except BaseException as exc:  # noqa: BLE001 - the worker reports and exits; the supervisor decides
                print(f"worker {os.getpid()} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            finally:
                os._exit(code)
        self.workers[pid] = (index, time.monotonic())

    def _supervise(self) -> int:
        code = 0
        while self.workers:
            if self.stop_requested:
                self.stop_requested = False
                self._stop()
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                self._enforce_deadline()
                time.sleep(0.05)
                continue
            index, started = self.workers.pop(pid, (None, 0.0))
            if index is None:
                continue
            metrics.worker_gone(pid)
            if self.stop_deadline is not None:
                print(f"worker {pid} stopped ({_how(status)}); {len(self.workers)} left", file=sys.stderr, flush=True)
            elif not self._replace(pid, status, index, started):
                code = 1
        return code

    def _replace(self, pid: int, status: int, index: int, started: float) -> bool:
        """Fork a new worker in the dead one's place; False (and stop the rest) if workers keep dying at start."""
        self.quick_exits = self.quick_exits + 1 if time.monotonic() - started < QUICK_EXIT_S else 0
        if self.quick_exits >= MAX_QUICK_EXITS:
            print(f"worker {pid} ended ({_how(status)}); workers keep failing at start, stopping", file=sys.stderr,
                  flush=True)
            self._stop()
            return False
        print(f"worker {pid} ended ({_how(status)}); starting a new one", file=sys.stderr, flush=True)
        self._fork(index)
        return True

    def _request_stop(self, *_signal) -> None:
        self.stop_requested = True
        if self.stop_deadline is not None:  # a second signal: no more waiting
            self.stop_deadline = 0.0

    def _stop(self) -> None:
        if self.stop_deadline is None:
            print(f"stopping {len(self.workers)} worker(s): in-flight requests get {self.drain_s:.0f} s",
                  file=sys.stderr, flush=True)
            self.stop_deadline = time.monotonic() + self.drain_s + KILL_AFTER_S
            for sock in self.sockets:  # our copies would keep the port open (and new clients waiting) forever
                sock.close()
        for pid in list(self.workers):
            _signal_quietly(pid, signal.SIGTERM)

    def _enforce_deadline(self) -> None:
        if self.stop_deadline is not None and time.monotonic() > self.stop_deadline:
            for pid in list(self.workers):
                _signal_quietly(pid, signal.SIGKILL)


def _how(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return f"signal {-code}" if code < 0 else f"exit code {code}"


def _signal_quietly(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def serve_forked(app, host: str, port: int, workers: int, options: dict,
                 in_worker: Callable[[int], None] = lambda index: None) -> int:
    """Bind, fork `workers` workers running `app` (each first calls `in_worker(index)`: its threads must start
    after the fork), supervise them; the exit code for the launcher."""
    sockets = bind_sockets(host, port, workers)
    drain = float(options.get("timeout_graceful_shutdown") or 0)

    def run(index: int, sock: socket.socket) -> None:
        in_worker(index)
        uvicorn_server.serve(app, options, sockets=[sock])

    return Supervisor(sockets, run, drain).run()
