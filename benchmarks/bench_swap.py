"""`make bench-swap`: hot swaps under load. `tagifai serve --workers 2 --poll-interval 2` follows the alias
`champion` while 8 keep-alive connections post one-row requests; 5 promotions and 5 rollbacks move the alias.

One run, in a throw-away folder (SQLite tracking store and artifacts there, never the developer's mlflow.db):

- two runs trained from config/args.json with different `alpha`, A and B (tracking.runs.train_and_log, no
  cross-validation); A promoted with `tagifai promote --force` as the champion of model `bench-swap`, and of
  model `bench-control`;
- two servers on 127.0.0.1, both `--workers 2 --poll-interval 2`, started together: the one measured follows
  `models:/bench-swap@champion`, the control follows `models:/bench-control@champion`, an alias nothing moves (it
  polls the registry like the other, and never swaps);
- 8 closed-loop keep-alive connections per server (harness.http.Connection, no reconnect: a lost connection is a
  failed request), spread 4/4 over the workers before the clock starts; each request's send time, latency,
  status and X-Model-Version kept;
- 5 x (`tagifai promote --force --run-id B`; wait; `tagifai rollback`; wait). Registry change = the alias row in
  the SQLite store names the new version (read-only look every 10 ms while the command runs: under load the
  command's Python start-up takes seconds and the workers often switch before it exits; its return is reported
  too). Switched = GET /models shows every worker on the new version (polled every 50 ms); then the wait goes
  on until every connection got an answer from the new version, and --settle quiet seconds more.

Figures: failed requests (non-200, wrong body, connection error or timeout), switch time (median, max), p50/p99
of the requests overlapping a window [change, all switched + 1 s] against the rest (the first 2 s left out),
and RSS (sum of the workers' VmRSS) of both servers after the 10 swaps. Written to the "Hot swaps" section of
docs/benchmarks.md (plus benchmarks/swap_notes.md when present) with docs/bench_swap.png; exit 1 if a target
is missed. --keep leaves the folder (store, server logs, results.json, requests.csv) for a closer look.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_serving import load_average, machine, targets_markdown, versions  # noqa: E402 - the repo is on sys.path
from benchmarks.loadgen import request_body  # noqa: E402
from harness.http import TRANSPORT_ERRORS, Connection  # noqa: E402
from harness.http import get as http_get  # noqa: E402
from harness.ports import free_port, wait_for  # noqa: E402
from harness.proc import pss_kib, rss_kib, socket_inodes, worker_pids  # noqa: E402
from harness.processes import log_text, start_logged, stop_group, wait_up, wait_workers_ready  # noqa: E402
from harness.stats import latency_summary, percentile  # noqa: E402

BIN = Path(sys.executable).parent
DOC = ROOT / "docs" / "benchmarks.md"
PNG = ROOT / "docs" / "bench_swap.png"
NOTES_PATH = Path(__file__).with_name("swap_notes.md")  # appended to the section when present (hand-written)
SECTION = "## Hot swaps (`make bench-swap`)"
HOST = "127.0.0.1"
MODEL, CONTROL = "bench-swap", "bench-control"
EXPERIMENT = "bench-swap"
ALPHAS = {"A": 3e-3, "B": 1e-3}  # run A: the first champion; run B: what each promotion brings in
WORKERS = 2
POLL_INTERVAL = 2.0
MODELS_POLL_S = 0.05  # GET /models every 50 ms while waiting for a switch
SWITCH_SLACK_S = 0.2  # the /models poll (50 ms) and the follower's own registry query
AFTER_S = 1.0  # "around a swap": [change, all switched + AFTER_S]
WIDE_AFTER_S = 3.5  # also shown: a window that takes in each worker's next poll after its swap (+ poll interval)
SKIP_S = 2.0  # the first seconds of load are not steady state
MAX_P99_RATIO = 2.0
MAX_RSS_RATIO = 1.15
REQUEST_TIMEOUT_S = 30.0
MAX_LOAD_S = 400.0  # the request loops stop by themselves after this, whatever happens
MAX_REQUESTS = 2_000_000
VERSION_HEADER = re.compile(rb"\r\nx-model-version:[ \t]*([^\r\n]*)", re.IGNORECASE)


def log(message: str) -> None:
    print(f"[bench-swap {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the client -----------------------------------------------------------------------------------------------


class HeadConnection(Connection):
    """harness.http.Connection, with the version that answered (X-Model-Version of the response head)."""

    async def post_versioned(self, body: bytes) -> tuple[int, bytes, str | None]:
        self.last_head = b""
        status, data = await self.post(body)
        match = VERSION_HEADER.search(self.last_head)
        return status, data, match.group(1).decode().strip() if match else None


@dataclass
class Request:
    server: str
    connection: int
    sent: float  # perf_counter at send
    latency: float  # seconds; NaN if no answer
    status: int  # 0: connection error or timeout
    version: str | None
    error: str | None = None

    @property
    def done(self) -> float:
        return self.sent + (0.0 if math.isnan(self.latency) else self.latency)


def connection_owners(server_port: int, client_ports: list[int], pids: list[int]) -> dict[int, int | None]:
    """Which worker accepted each of our connections: client port -> worker pid (None: not found), from
    /proc/net/tcp (the server side's socket inode, found by its peer port) and the workers' /proc/<pid>/fd."""
    inodes: dict[int, int] = {}  # inode -> client port
    wanted = set(client_ports)
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16), int(fields[9])
        if local == server_port and remote in wanted:
            inodes[inode] = remote
    owners: dict[int, int | None] = dict.fromkeys(client_ports)
    for pid in pids:
        for inode in socket_inodes(pid) & inodes.keys():
            owners[inodes[inode]] = pid
    return owners


class Load:
    """Closed-loop keep-alive load on every server, in an asyncio loop on its own thread, until stop().

    Before the clock starts, each server's connections are spread evenly over its workers (SO_REUSEPORT hashes
    each new connection to one worker's socket: 8 connections land 4/4 only 27 % of the time): a connection on a
    worker that has more than its share is closed and opened again, until none has."""

    def __init__(self, ports: dict[str, int], workers: dict[str, list[int]], bodies: list[bytes], concurrency: int):
        self.ports, self.workers, self.bodies, self.concurrency = ports, workers, bodies, concurrency
        self.requests: list[Request] = []  # appended by the load thread only; read when it has stopped
        self.latest: dict[tuple[str, int], Request] = {}  # the newest answer per connection (read while running)
        self.owners: dict[str, list[int | None]] = {}  # server -> the worker pid of each connection
        self._stop = threading.Event()
        self._running = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="bench-swap-load", daemon=True)
        self.started = math.nan

    def start(self) -> None:
        self._thread.start()
        if not self._running.wait(60):
            raise RuntimeError("the load did not start within 60 s")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(REQUEST_TIMEOUT_S + 10)

    async def _run(self) -> None:
        connections = {}
        try:
            for server, port in self.ports.items():
                connections[server] = [HeadConnection(HOST, port, reconnect=False)  # lost = a failed request
                                       for _ in range(self.concurrency)]
                await self._spread(server, connections[server])
        except BaseException:
            for conns in connections.values():
                for connection in conns:
                    await connection.close()
            raise
        self.started = time.perf_counter()
        self._running.set()
        deadline = self.started + MAX_LOAD_S
        # interleaved (server A's first connection, server B's first, ...): neither server's connections are
        # always served first by this one event loop
        await asyncio.gather(*(self._loop(server, c, conns[c], deadline) for c in range(self.concurrency)
                               for server, conns in connections.items()))

    async def _spread(self, server: str, conns: list[HeadConnection]) -> None:
        pids = self.workers[server]
        share = math.ceil(len(conns) / len(pids))
        for connection in conns:
            await connection.post_versioned(self.bodies[0])
        for _ in range(200):
            ports = [c.writer.get_extra_info("sockname")[1] for c in conns]
            owners = connection_owners(self.ports[server], ports, pids)
            counts = {pid: sum(o == pid for o in owners.values()) for pid in pids}
            crowded = [c for c, p in zip(conns, ports) if owners[p] is None or counts[owners[p]] > share]
            if not crowded:
                break
            await crowded[0].close()
            await crowded[0].post_versioned(self.bodies[0])  # a new connection: another source port
        self.owners[server] = [owners[p] for p in ports]

    async def _loop(self, server: str, index: int, connection: HeadConnection, deadline: float) -> None:
        k = index * 97  # each connection its own walk through the texts
        try:
            while not self._stop.is_set() and time.perf_counter() < deadline and len(self.requests) < MAX_REQUESTS:
                body = self.bodies[k % len(self.bodies)]
                k += 1
                sent = time.perf_counter()
                try:
                    status, data, version = await asyncio.wait_for(connection.post_versioned(body),
                                                                   REQUEST_TIMEOUT_S)
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as exc:
                    record = Request(server, index, sent, math.nan, 0, None, f"{type(exc).__name__}: {exc}"[:200])
                    await connection.close()  # the next request opens a new connection
                else:
                    error = None
                    if status != 200:
                        error = f"HTTP {status}: {data[:200]!r}"
                    elif data.count(b'"predicted_tag"') != 1:
                        error = f"not one prediction: {data[:200]!r}"
                    record = Request(server, index, sent, time.perf_counter() - sent, status, version, error)
                self.requests.append(record)
                self.latest[(server, index)] = record
        finally:
            await connection.close()


# --- the servers ------------------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    model: str
    port: int
    log_path: Path
    process: subprocess.Popen | None = None
    first_workers: list[int] = field(default_factory=list)
    workers_at_end: list[int] = field(default_factory=list)
    index_of: dict[int, int] = field(default_factory=dict)  # worker pid -> its number in /models

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def models(self) -> dict | None:
        try:
            status, body = http_get(self.url + "/models", timeout=5)
        except TRANSPORT_ERRORS:
            return None
        return json.loads(body) if status == 200 else None

    def worker_versions(self) -> dict[int, str]:
        """worker index -> the version /models says it serves ({} if /models does not answer)."""
        answer = self.models() or {}
        return {w["worker"]: str(w["version"]) for w in answer.get("workers", [])}

    def workers(self) -> list[int]:
        return worker_pids(self.process.pid) if self.process else []

    def rss_kib(self) -> int:
        return sum(rss_kib(pid) for pid in self.workers())

    def pss_kib(self) -> int:
        return sum(pss_kib(pid) for pid in self.workers())


def start_server(server: Server, workdir: Path, env: dict[str, str]) -> None:
    command = [str(BIN / "tagifai"), "serve", "--model-uri", f"models:/{server.model}@champion", "--host", HOST,
               "--port", str(server.port), "--workers", str(WORKERS), "--poll-interval", f"{POLL_INTERVAL:g}"]
    log(f"{server.name}: {' '.join(command[1:])}")
    server.process = start_logged(command, server.log_path, env=env, cwd=workdir)


def wait_ready(server: Server, version: str) -> None:
    wait_workers_ready(server.process, server.log_path, WORKERS, timeout=180)
    def serving() -> bool:
        seen = server.worker_versions()
        return len(seen) == WORKERS and set(seen.values()) == {version}

    wait_up(server.process, serving, 60, f"{server.name}: /models shows version {version}", server.log_path)
    server.first_workers = server.workers()
    server.index_of = {w["pid"]: w["worker"] for w in (server.models() or {}).get("workers", [])}


class RssSampler:
    """Sum of the workers' RSS of each server, every `interval` seconds, on its own thread."""

    def __init__(self, servers: list[Server], interval: float = 0.5):
        self.servers, self.interval = servers, interval
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-swap-rss", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        deadline = time.monotonic() + MAX_LOAD_S
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.samples.append((time.perf_counter(), {s.name: s.rss_kib() for s in self.servers}))
            self._stop.wait(self.interval)


# --- the registry -----------------------------------------------------------------------------------------------


def tagifai(args: list[str], env: dict[str, str], workdir: Path) -> str:
    """Run `tagifai ARGS` against the throw-away store; its output (RuntimeError if it fails)."""
    done = subprocess.run([str(BIN / "tagifai"), *args], env=env, cwd=workdir, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"tagifai {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return (done.stdout + done.stderr).strip()


def train_runs(workdir: Path) -> dict[str, str]:
    """Runs A and B (config/args.json, `alpha` set apart), no cross-validation: {"A": run id, "B": run id}."""
    import mlflow

    from tagifai import config
    from tagifai.args import TrainArgs
    from tracking.runs import train_and_log

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.create_experiment(EXPERIMENT, artifact_location=(workdir / "artifacts").as_uri())
    runs = {}
    for name, alpha in ALPHAS.items():
        t0 = time.perf_counter()
        trained = train_and_log(TrainArgs.from_file(config.ARGS_PATH, {"alpha": alpha}), experiment_name=EXPERIMENT,
                                run_name=f"bench-swap-{name}", cv_repeats=0)
        runs[name] = trained.run_id
        log(f"trained run {name} (alpha={alpha:g}) in {time.perf_counter() - t0:.1f} s: {trained.run_id}")
    return runs


class AliasWatch:
    """The version the alias names, read straight from the SQLite store (read-only, a few µs a look): the moment
    of the registry change, within a poll, whatever the command that made it is still doing."""

    def __init__(self, db: Path, model: str, alias: str = "champion"):
        self.connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5, isolation_level=None,
                                          check_same_thread=False)
        self.query, self.params = ("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                                   (model, alias))

    def version(self) -> str | None:
        try:
            row = self.connection.execute(self.query, self.params).fetchone()
        except sqlite3.OperationalError:  # locked by the writer right now: look again next time
            return None
        return None if row is None else str(row[0])

    def close(self) -> None:
        self.connection.close()


@dataclass
class Swap:
    kind: str  # "promote" | "rollback"
    old: str
    cli_started: float
    new: str = ""
    change: float = math.nan  # the alias names `new` in the store
    cli_returned: float = math.nan  # the command exited
    switched: float = math.nan  # /models shows every worker on `new`
    per_worker: dict[int, tuple[float, str]] = field(default_factory=dict)  # worker -> (first seen off `old`, on)
    all_answered: float = math.nan  # every connection got an answer from `new`

    @property
    def switch_s(self) -> float:
        return self.switched - self.change

    @property
    def after_return_s(self) -> float:
        """All switched, counted from the command's return (0 if it was before)."""
        return max(0.0, self.switched - self.cli_returned)

    @property
    def window(self) -> tuple[float, float]:
        return self.change, self.switched + AFTER_S


class SwitchWatch:
    """While a command moves the alias: the alias row every 10 ms on one thread, and GET /models every 50 ms on
    others (up to 4 in flight: a new connection reaches either worker, and one that is not answering just now
    must not hold up the look at the other), each answer kept with the moment it arrived."""

    def __init__(self, server: Server, alias: AliasWatch, old: str):
        self.server, self.alias, self.old = server, alias, old
        self.change, self.new = math.nan, ""
        self.answers: list[tuple[float, dict[int, str]]] = []
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="bench-swap-models")
        self._threads = [threading.Thread(target=self._watch_alias, daemon=True),
                         threading.Thread(target=self._ask_models, daemon=True)]

    def __enter__(self) -> SwitchWatch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _watch_alias(self) -> None:
        while not self._stop.is_set():
            if (version := self.alias.version()) not in (None, self.old):
                self.change, self.new = time.perf_counter(), version
                return
            self._stop.wait(0.01)

    def _ask_models(self) -> None:
        def ask() -> None:
            seen = self.server.worker_versions()
            self.answers.append((time.perf_counter(), seen))

        while not self._stop.is_set():
            self._pool.submit(ask)
            self._stop.wait(MODELS_POLL_S)

    def first(self, holds) -> float:
        """When the first answer arrived for which `holds(versions)`; NaN if none yet."""
        return min((t for t, seen in list(self.answers) if holds(seen)), default=math.nan)

    def switched(self) -> float:
        return self.first(lambda seen: bool(self.new) and len(seen) == WORKERS
                          and all(v == self.new for v in seen.values()))

    def per_worker(self) -> dict[int, tuple[float, str]]:
        found = {}
        for t, seen in sorted(list(self.answers), key=lambda a: a[0]):
            for worker, version in seen.items():
                if version != self.old:
                    found.setdefault(worker, (t, version))
        return found


def move_alias(kind: str, run_b: str, env: dict[str, str], workdir: Path, server: Server, load: Load,
               alias: AliasWatch, old: str, settle: float) -> Swap:
    """One registry change with the CLI, watched (SwitchWatch) until the command has returned and every worker
    serves the new version; then until every connection got an answer from it; then `settle` quiet seconds."""
    args = (["promote", "--force", "--run-id", run_b, "--model-name", MODEL] if kind == "promote"
            else ["rollback", "--model-name", MODEL])
    output_path = workdir / "command.log"
    with SwitchWatch(server, alias, old) as watch:
        with open(output_path, "w") as output:
            swap = Swap(kind, old, time.perf_counter())
            # its own session: its own scheduling group (autogroup), not a share of this process's load thread
            command = subprocess.Popen([str(BIN / "tagifai"), *args], env=env, cwd=workdir, stdout=output,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = swap.cli_started + 180
        try:
            while math.isnan(swap.cli_returned) or math.isnan(watch.switched()):
                now = time.perf_counter()
                if now > deadline:
                    raise TimeoutError(f"{kind}: not switched within 180 s:\n{log_text(server.log_path, 40)}")
                if server.process.poll() is not None:
                    raise RuntimeError(f"the server exited:\n{log_text(server.log_path, 40)}")
                if math.isnan(swap.cli_returned) and command.poll() is not None:
                    swap.cli_returned = now
                    if command.returncode != 0:
                        raise RuntimeError(f"tagifai {' '.join(args)} exited {command.returncode}:\n"
                                           f"{output_path.read_text()}")
                time.sleep(0.01)
        finally:
            if command.poll() is None:
                command.kill()
                command.wait()
    swap.change, swap.new = watch.change, watch.new
    swap.switched, swap.per_worker = watch.switched(), watch.per_worker()
    said = output_path.read_text()
    if f"version {swap.new} of '{MODEL}'" not in said:
        raise RuntimeError(f"the store says version {swap.new}, `tagifai {' '.join(args)}` said: {said}")

    def all_answered() -> bool:
        latest = [r for (name, _), r in list(load.latest.items()) if name == server.name]
        return len(latest) == load.concurrency and all(r.sent >= swap.switched and r.version == swap.new
                                                       for r in latest)

    wait_for(all_answered, 30, f"every connection answered by version {swap.new}", interval=0.01)
    swap.all_answered = time.perf_counter()
    log(f"{kind} {swap.old} -> {swap.new}: command {swap.cli_returned - swap.cli_started:.1f} s (alias moved after "
        f"{swap.change - swap.cli_started:.1f} s); all workers switched {swap.switch_s:.2f} s after the alias moved ("
        + ", ".join(f"worker {w} {t - swap.change:.2f} s" for w, (t, _) in sorted(swap.per_worker.items()))
        + f"), {swap.after_return_s:.2f} s after the command returned")
    time.sleep(settle)
    return swap


# --- figures ----------------------------------------------------------------------------------------------------


def overlaps(r: Request, windows: list[tuple[float, float]]) -> bool:
    return any(r.sent <= end and r.done >= start for start, end in windows)


# serving/follower.py's line, e.g. "worker 0: now serving tagifai version 2 (was 1; loaded in 0.3 s)"
SWAP_LINE = re.compile(r"worker (\d+): now serving .*?\bversion (\S+)\b.*?\(was (\S+); loaded in ([\d.]+) s\)")


def load_times(log: str, swaps: list[Swap]) -> list[dict[int, float]]:
    """Per swap, each worker's load time as its log line says ("now serving ... loaded in X s"), in order."""
    lines = [(int(w), new, old, float(s)) for w, new, old, s in SWAP_LINE.findall(log)]
    found = []
    for swap in swaps:
        mine = {}
        while lines and len(mine) < WORKERS and lines[0][1] == swap.new and lines[0][2] == swap.old:
            worker, _, _, seconds = lines.pop(0)
            mine[worker] = seconds
        found.append(mine)
    return found


def summarize(load: Load, swaps: list[Swap], servers: dict[str, Server], rss: RssSampler,
              rss_before: dict[str, int], rss_after: dict[str, int], pss_after: dict[str, int]) -> dict:
    t0 = load.started
    windows = [s.window for s in swaps]
    wide_windows = [(s.change, s.switched + WIDE_AFTER_S) for s in swaps]
    cli = [(s.cli_started, s.cli_returned) for s in swaps]
    loads = load_times(log_text(servers["swap"].log_path), swaps)
    end = max(r.done for r in load.requests)
    out: dict = {"swaps": [], "servers": {}}
    for name in servers:
        mine = [r for r in load.requests if r.server == name]
        ok = [r for r in mine if r.error is None]
        failed = [r for r in mine if r.error is not None]
        measured = [r for r in ok if r.sent >= t0 + SKIP_S]
        around = [r.latency for r in measured if overlaps(r, windows)]
        wide = [r.latency for r in measured if overlaps(r, wide_windows)]
        steady = [r.latency for r in measured if not overlaps(r, windows)]
        quiet = [r.latency for r in measured if not overlaps(r, windows) and not overlaps(r, cli)]
        wide_steady = [r.latency for r in measured if not overlaps(r, wide_windows)]
        seconds = end - t0
        out["servers"][name] = {
            "requests": len(mine), "failed": len(failed), "first_errors": sorted({r.error for r in failed})[:5],
            "req_per_s": len(mine) / seconds,
            "around": {"requests": len(around), **latency_summary(around, (50, 99)), "max_ms": max(around) * 1e3},
            "steady": {"requests": len(steady), **latency_summary(steady, (50, 99)), "max_ms": max(steady) * 1e3},
            "quiet": {"requests": len(quiet), **latency_summary(quiet, (50, 99))},
            "wide": {"requests": len(wide), **latency_summary(wide, (50, 99))},
            "wide_steady": {"requests": len(wide_steady), **latency_summary(wide_steady, (50, 99))},
            "rss_before_mib": rss_before[name] / 1024, "rss_after_mib": rss_after[name] / 1024,
            "pss_after_mib": pss_after[name] / 1024,
            "workers_replaced": len(set(servers[name].first_workers) - set(servers[name].workers_at_end)),
            "connections_per_worker": sorted(Counter(load.owners.get(name, [])).values(), reverse=True),
        }
    swap_requests = [r for r in load.requests if r.server == "swap"]
    control_requests = [r for r in load.requests if r.server == "control"]
    for i, s in enumerate(swaps):
        until = swaps[i + 1].cli_started if i + 1 < len(swaps) else end  # up to the next command
        inside = [r for r in swap_requests if r.error is None and overlaps(r, [s.window])]
        # answers from another version to requests sent after /models showed every worker on the new one
        stale = [r for r in swap_requests if s.switched < r.sent < until and r.version not in (s.new, None)]
        last_old = max((r.done for r in swap_requests if s.change <= r.sent < until and r.version == s.old),
                       default=math.nan)
        foreign = [r for r in swap_requests if s.change <= r.sent <= s.switched and r.version not in (s.old, s.new)]
        load_s = max(loads[i].values(), default=math.nan)
        out["swaps"].append({
            "kind": s.kind, "old": s.old, "new": s.new, "command_s": s.cli_returned - s.cli_started,
            "alias_moved_s": s.change - s.cli_started, "after_return_s": s.after_return_s,
            "switch_s": s.switch_s, "per_worker_s": {w: t - s.change for w, (t, _) in sorted(s.per_worker.items())},
            "load_s": load_s, "load_per_worker_s": dict(sorted(loads[i].items())),
            "over_bound_s": max((t - s.change - (POLL_INTERVAL + loads[i].get(w, math.nan) + SWITCH_SLACK_S)
                                 for w, (t, _) in s.per_worker.items()), default=math.nan),  # NaN: no load time
            "wide_p99_ms": latency_summary([r.latency for r in swap_requests if r.error is None
                                            and overlaps(r, [(s.change, s.switched + WIDE_AFTER_S)])], (99,))["p99_ms"],
            "last_old_answer_s": last_old - s.change, "stale": len(stale), "foreign": len(foreign),
            "window_requests": len(inside), **latency_summary([r.latency for r in inside], (50, 99)),
            "window_max_ms": max((r.latency for r in inside), default=math.nan) * 1e3,
            "control_window_max_ms": max((r.latency for r in control_requests if r.error is None
                                          and overlaps(r, [s.window])), default=math.nan) * 1e3,
            "at_s": s.change - t0,
        })
    switch = [s.switch_s for s in swaps]
    after_return = [s.after_return_s for s in swaps]
    out["after_return_median_s"], out["after_return_max_s"] = statistics.median(after_return), max(after_return)
    late = [i + 1 for i, s in enumerate(out["swaps"]) if s["over_bound_s"] > 0]
    unknown = [i + 1 for i, s in enumerate(out["swaps"]) if math.isnan(s["over_bound_s"])]
    swap = out["servers"]["swap"]
    out["switch_median_s"], out["switch_max_s"] = statistics.median(switch), max(switch)
    out["p99_ratio"] = swap["around"]["p99_ms"] / swap["steady"]["p99_ms"]
    out["p99_ratio_quiet"] = swap["around"]["p99_ms"] / swap["quiet"]["p99_ms"]
    control = out["servers"]["control"]
    out["control_p99_ratio"] = control["around"]["p99_ms"] / control["steady"]["p99_ms"]
    out["wide_p99_ratio"] = swap["wide"]["p99_ms"] / swap["wide_steady"]["p99_ms"]
    out["owners"] = {name: [servers[name].index_of.get(pid) for pid in owners] for name, owners in load.owners.items()}
    out["rss_ratio"] = swap["rss_after_mib"] / control["rss_after_mib"]
    out["stale"] = sum(s["stale"] for s in out["swaps"])
    out["foreign"] = sum(s["foreign"] for s in out["swaps"])
    out["load_s"] = end - t0
    out["targets"] = [
        ("failed requests (swapping server)", "0", f"{swap['failed']} of {swap['requests']}", swap["failed"] == 0),
        ("failed requests (control server)", "0", f"{control['failed']} of {control['requests']}",
         control["failed"] == 0),
        ("time from registry change to all workers switched", f"each worker <= poll interval ({POLL_INTERVAL:g} s) + "
         f"its load time (its log) + {SWITCH_SLACK_S:g} s",
         f"median {out['switch_median_s']:.2f} s, max {out['switch_max_s']:.2f} s"
         + (f" (over the bound: swap {', '.join(map(str, late))})" if late else "")
         + (f" (no load time in the worker log: swap {', '.join(map(str, unknown))})" if unknown else ""),
         not late and not unknown),
        ("p99 around a swap / steady p99", f"<= {MAX_P99_RATIO:g}x",
         f"{out['p99_ratio']:.2f}x ({swap['around']['p99_ms']:.1f} vs {swap['steady']['p99_ms']:.1f} ms)",
         out["p99_ratio"] <= MAX_P99_RATIO),
        (f"RSS after {len(swaps)} swaps / never-swapped server (sum of workers)", f"<= {MAX_RSS_RATIO:.2f}x",
         f"{out['rss_ratio']:.3f}x ({swap['rss_after_mib']:.0f} vs {control['rss_after_mib']:.0f} MiB)",
         out["rss_ratio"] <= MAX_RSS_RATIO),
        ("answers from an old version to requests sent after /models showed all switched; from neither version "
         "during a switch", "0", f"{out['stale']}; {out['foreign']}", out["stale"] == out["foreign"] == 0),
    ]
    out["rss_series"] = [(t - t0, {k: v / 1024 for k, v in d.items()}) for t, d in rss.samples]
    return out


def plot(load: Load, swaps: list[Swap], result: dict, path: Path = PNG) -> None:
    from matplotlib.figure import Figure

    t0 = load.started
    fig = Figure(figsize=(12, 6.5))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    bin_s = 1.0
    colors = {"swap": "tab:blue", "control": "tab:grey"}
    for name, label in (("swap", "swapping server"), ("control", "control (never swaps)")):
        ok = [r for r in load.requests if r.server == name and r.error is None]
        if name == "swap":
            top.scatter([r.sent - t0 for r in ok], [r.latency * 1e3 for r in ok], s=1, color=colors[name], alpha=0.08,
                        linewidths=0, rasterized=True)
        bins: dict[int, list[float]] = {}
        for r in ok:
            bins.setdefault(int((r.sent - t0) / bin_s), []).append(r.latency)
        keys = sorted(bins)
        top.plot([(k + 0.5) * bin_s for k in keys], [percentile(bins[k], 99) * 1e3 for k in keys],
                 color=colors[name], linewidth=1.2 if name == "swap" else 0.9,
                 label=f"{label}: p99 per {bin_s:g} s", alpha=1 if name == "swap" else 0.8)
        if name == "swap":
            top.plot([(k + 0.5) * bin_s for k in keys], [percentile(bins[k], 50) * 1e3 for k in keys],
                     color="tab:cyan", linewidth=0.9, label=f"{label}: p50 per {bin_s:g} s")
    steady = result["servers"]["swap"]["steady"]["p99_ms"]
    top.axhline(steady, color="black", linestyle=":", linewidth=0.8, label=f"steady p99 {steady:.1f} ms")
    top.axhline(steady * MAX_P99_RATIO, color="tab:red", linestyle=":", linewidth=0.8,
                label=f"target: {MAX_P99_RATIO:g}x steady p99")
    for s in swaps:
        color = "tab:green" if s.kind == "promote" else "tab:orange"
        for ax in (top, bottom):
            ax.axvspan(s.change - t0, s.switched + AFTER_S - t0, color=color, alpha=0.15, linewidth=0)
            ax.axvline(s.change - t0, color=color, linewidth=1)
        top.plot([s.cli_started - t0, s.cli_returned - t0], [0.01, 0.01], color="grey", linewidth=4, alpha=0.6,
                 transform=top.get_xaxis_transform(), solid_capstyle="butt")
        top.text(s.change - t0, 1.0, f"{'promote' if s.kind == 'promote' else 'rollback'}\n-> v{s.new}",
                 transform=top.get_xaxis_transform(), fontsize=7, color=color, ha="left", va="top")
    top.set(yscale="log", ylabel="latency (ms)",
            title=f"`tagifai serve --workers {WORKERS} --poll-interval {POLL_INTERVAL:g}`, {load.concurrency} "
                  "connections per server, 1 row per request.\nLines: the alias moved in the store; shaded: [change, "
                  "all switched + "
                  f"{AFTER_S:g} s]; grey bars at the bottom: a `tagifai promote`/`rollback` process running")
    top.title.set_fontsize(9)
    top.grid(True, which="both", alpha=0.3)
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, 0.9))
    series = result["rss_series"]
    for name, label in (("swap", "swapping server"), ("control", "control (never swaps)")):
        bottom.plot([t for t, _ in series], [d[name] for _, d in series], color=colors[name], label=label)
    bottom.set(xlabel="seconds since the load started", ylabel="RSS, sum of\nworkers (MiB)")
    bottom.grid(True, alpha=0.3)
    bottom.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def check_imports(env: dict[str, str], workdir: Path) -> None:
    """RuntimeError unless `tagifai` run from `workdir` with `env` imports this checkout's packages."""
    probe = "import app.cli, registry, serving.follower; print(serving.follower.__file__, app.cli.__file__)"
    found = subprocess.run([sys.executable, "-c", probe], env=env, cwd=workdir, capture_output=True, text=True,
                           timeout=120).stdout.split()
    if not found or not all(Path(f).resolve().is_relative_to(ROOT) for f in found):
        raise RuntimeError(f"the servers would not run this checkout's code ({ROOT}): {found}")


def served_code() -> str:
    """The commit, and whether serving/ differs from it: the server measured is the one on disk now."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "?"
    return commit + (" with local changes in serving/" if git("status", "--porcelain", "--", "serving") else "")


def fmt(x: float, digits: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def section(info: dict) -> str:
    r = info["result"]
    swap, control = r["servers"]["swap"], r["servers"]["control"]
    m = info["machine"]
    lines = [
        SECTION, "",
        f"Regenerated by `make bench-swap` (benchmarks/bench_swap.py) on {info['date']}; the whole run took "
        f"{info['wall_s'] / 60:.1f} min ({r['load_s']:.0f} s under load); the server measured: serving/ at "
        f"{info['code']}.", "",
        f"**Machine:** {m['cpus']} CPUs ({m['cpu_model']}), {m['memory']} RAM, {m['os']}, Python {m['python']}; "
        f"{info['versions']}. Load average at start / end: {info['load_start']} / {info['load_end']} (shared "
        "machine: both servers are measured side by side in this one run).", "",
        f"**Method.** Two runs trained in the run from config/args.json, `alpha` {ALPHAS['A']:g} (A) and "
        f"{ALPHAS['B']:g} (B), no cross-validation, in a throw-away SQLite store. A is promoted with `tagifai "
        f"promote --force` as the champion of `{MODEL}` and of `{CONTROL}`. Two servers run at once on 127.0.0.1, "
        f"both `tagifai serve --workers {WORKERS} --poll-interval {POLL_INTERVAL:g}`: the measured one on "
        f"`models:/{MODEL}@champion`, the control on `models:/{CONTROL}@champion`, an alias nothing moves (it polls "
        f"the registry the same way and never swaps). Each gets {info['concurrency']} closed-loop keep-alive "
        "connections posting one-row requests (real project texts), for the whole run; no reconnect, so a lost "
        f"connection is a failed request, as is a non-200 answer, a body without one prediction or no answer "
        f"within {REQUEST_TIMEOUT_S:g} s. After {info['lead_s']:g} s of load: {info['cycles']} x (`tagifai promote "
        f"--force --run-id B --model-name {MODEL}`, wait, `tagifai rollback --model-name {MODEL}`, wait). The "
        "*registry change* = the moment the alias row in the SQLite store names the new version, read "
        "(read-only) every 10 ms while the command runs: under this load the command's own Python start-up takes "
        "several seconds, and the workers often switch before it has exited, so its return is shown beside it "
        f"but does not start the clock. *Switched* = GET /models (polled every {MODELS_POLL_S * 1e3:.0f} ms) shows "
        "every worker on the new version; then the wait goes on until each connection got an answer from the new "
        f"version, plus {info['settle_s']:g} s. Before the clock starts, each server's connections are spread "
        f"evenly over its workers (checked in /proc: {info['spread']}). *Around a swap* = requests "
        f"overlapping [change, all switched + {AFTER_S:g} s]; *steady* = every other request, the first "
        f"{SKIP_S:g} s left out; *steady, no command running* also leaves out the requests overlapping a "
        "`tagifai promote`/`rollback` process (its Python start-up takes CPU from the servers on 2 cores). Latency "
        "is the client's: from sending the request to its last byte, queueing in the worker included. RSS = "
        "sum of the two workers' VmRSS, read from /proc after the last swap, load still on; the control's "
        "workers under the same load are the baseline.", "",
        *targets_markdown(r["targets"]),
    ]
    lines += ["", "### Latency", "",
              "| server | requests | requests/s | failed | steady p50 ms | steady p99 ms | around a swap p50 ms | "
              "around a swap p99 ms | around / steady p99 | steady, no command running p99 ms |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, label in (("swap", "swapping"), ("control", "control (never swaps)")):
        s = r["servers"][name]
        ratio = s["around"]["p99_ms"] / s["steady"]["p99_ms"]
        lines.append(f"| {label} | {s['requests']} | {s['req_per_s']:.0f} | {s['failed']} | "
                     f"{fmt(s['steady']['p50_ms'])} | {fmt(s['steady']['p99_ms'])} | {fmt(s['around']['p50_ms'])} | "
                     f"{fmt(s['around']['p99_ms'])} | {ratio:.2f}x | {fmt(s['quiet']['p99_ms'])} |")
    lines += ["", "The control's \"around a swap\" are the same time windows: what the machine did then, without a "
              f"swap. Around / steady-with-no-command p99 for the swapping server: {r['p99_ratio_quiet']:.2f}x. With "
              f"a wider window, [change, all switched + {WIDE_AFTER_S:g} s] (each worker's next poll after its swap "
              f"included): p99 {fmt(swap['wide']['p99_ms'])} ms around vs {fmt(swap['wide_steady']['p99_ms'])} ms "
              f"steady, {r['wide_p99_ratio']:.2f}x. Longest wait in a swap window: "
              f"{max(x['window_max_ms'] for x in r['swaps']):.0f} ms (the control's longest in the same windows: "
              f"{max(x['control_window_max_ms'] for x in r['swaps']):.0f} ms).", "",
              "### Each swap", "",
              "Seconds counted from the registry change unless said otherwise. Load = the worker's own \"loaded in\" "
              "(download, load, warm-up), from its log.", "",
              "| # | command | version | command ran s | alias moved after command start s | all switched s | "
              "per worker s | load s (per worker) | all switched after the command returned s | last old-version "
              "answer s | requests in window | window p99 ms | window max ms | control's max, same window ms |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i, s in enumerate(r["swaps"], 1):
        workers = ", ".join(f"{v:.2f}" for v in s["per_worker_s"].values())
        loads = ", ".join(f"{v:.1f}" for v in s["load_per_worker_s"].values())
        lines.append(f"| {i} | {s['kind']} | {s['old']} -> {s['new']} | {s['command_s']:.1f} | "
                     f"{s['alias_moved_s']:.1f} | {s['switch_s']:.2f} | {workers} | {loads} | "
                     f"{s['after_return_s']:.2f} | {fmt(s['last_old_answer_s'], 2)} | {s['window_requests']} | "
                     f"{fmt(s['p99_ms'])} | {fmt(s['window_max_ms'], 0)} | {fmt(s['control_window_max_ms'], 0)} |")
    lines += ["", f"All switched after the command returned: median {r['after_return_median_s']:.2f} s, max "
              f"{r['after_return_max_s']:.2f} s (0: the workers had switched before it exited)."]
    lines += ["", "### Memory", "",
              f"| server | RSS before the first swap MiB | RSS after {len(r['swaps'])} swaps MiB | PSS after MiB | "
              "workers replaced |",
              "| --- | --- | --- | --- | --- |"]
    for name, label in (("swap", "swapping"), ("control", "control (never swaps)")):
        s = r["servers"][name]
        lines.append(f"| {label} | {s['rss_before_mib']:.0f} | {s['rss_after_mib']:.0f} | {s['pss_after_mib']:.0f} | "
                     f"{s['workers_replaced'] or 'none'} |")
    lines += ["", "![latency over time, swaps marked; RSS of both servers](bench_swap.png)", ""]
    if NOTES_PATH.exists():
        lines += [NOTES_PATH.read_text().strip(), ""]
    errors = [f"- {name}: {', '.join(s['first_errors'])}" for name, s in r["servers"].items() if s["failed"]]
    if errors:
        lines += ["### Errors", "", *errors, ""]
    return "\n".join(lines)


def write_doc(text: str, path: Path = DOC) -> None:
    """Replace this section (up to the next level-2 heading) or append it; every other section stays as it is."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start = old.find(f"\n{SECTION}\n")
    if start == -1:
        path.write_text(old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")
        return
    begin = start + 1
    nxt = re.search(r"^## ", old[begin + len(SECTION):], flags=re.MULTILINE)
    end = begin + len(SECTION) + nxt.start() if nxt else len(old)
    path.write_text(old[:begin] + text.rstrip("\n") + "\n" + ("\n" + old[end:] if nxt else ""))


# --- main -------------------------------------------------------------------------------------------------------


def render(folder: Path) -> None:
    """The section and the plot again from a folder a run kept (--keep): its results.json and requests.csv."""
    import csv

    info = json.loads((folder / "results.json").read_text())
    swaps = []
    for s in info["result"]["swaps"]:
        started = s["at_s"] - s["alias_moved_s"]
        swaps.append(Swap(s["kind"], s["old"], started, s["new"], s["at_s"], started + s["command_s"],
                          s["at_s"] + s["switch_s"]))
    load = Load({}, {}, [], info["concurrency"])
    load.started = 0.0
    with open(folder / "requests.csv", newline="") as handle:
        load.requests = [Request(row["server"], int(row["connection"]), float(row["sent_s"]), float(row["latency_s"]),
                                 int(row["status"]), row["version"] or None, row["error"] or None)
                         for row in csv.DictReader(handle)]
    plot(load, swaps, info["result"])
    write_doc(section(info))
    log(f"wrote {DOC.relative_to(ROOT)} ({SECTION}), {PNG.relative_to(ROOT)} from {folder}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=5, help="promote + rollback cycles [5]")
    parser.add_argument("--concurrency", type=int, default=8, help="connections per server [8]")
    parser.add_argument("--lead", type=float, default=6.0, help="seconds of load before the first change [6]")
    parser.add_argument("--settle", type=float, default=2.5, help="quiet seconds after each switch [2.5]")
    parser.add_argument("--no-doc", action="store_true", help="print the section, leave docs/ alone")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (store, logs)")
    parser.add_argument("--render", type=Path, metavar="FOLDER",
                        help="no run: the section and plot again from a folder kept by --keep")
    args = parser.parse_args()
    if args.render:
        render(args.render)
        return 0

    wall0 = time.perf_counter()
    load_start = load_average()
    code = served_code()
    workdir = Path(tempfile.mkdtemp(prefix="bench-swap-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"  # never the developer's store
    # This checkout's packages first, for the servers and the commands too: the venv's editable install may point
    # at another worktree (one venv shared by several checkouts, the last `pip install -e` wins).
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    log(f"working in {workdir}")
    check_imports(env, workdir)
    servers = {name: Server(name, model, free_port(), workdir / f"{name}.log")
               for name, model in (("swap", MODEL), ("control", CONTROL))}
    load: Load | None = None
    rss: RssSampler | None = None
    failed = True
    try:
        from tagifai import config
        from tagifai.data import load_projects

        runs = train_runs(workdir)
        for model in (MODEL, CONTROL):
            tagifai(["promote", "--force", "--run-id", runs["A"], "--model-name", model], env, workdir)
        log(f"run A is the champion of {MODEL} and {CONTROL} (version 1)")
        for server in servers.values():
            start_server(server, workdir, env)
        for server in servers.values():
            wait_ready(server, "1")
            log(f"{server.name}: workers {server.first_workers} ready on port {server.port}, serving version 1")
        texts = load_projects(config.DATA_PATH)[0]["text"].tolist()
        bodies = [request_body("mlflow", [t]) for t in texts]
        load = Load({name: s.port for name, s in servers.items()},
                    {name: s.first_workers for name, s in servers.items()}, bodies, args.concurrency)
        rss = RssSampler(list(servers.values()))
        load.start()
        rss.start()
        spread = "; ".join(f"{name} " + "/".join(map(str, sorted(Counter(owners).values(), reverse=True)))
                           for name, owners in load.owners.items())
        log(f"load: {args.concurrency} connections per server (per worker: {spread}); {args.lead:g} s before the "
            "first change")
        alias = AliasWatch(workdir / "mlflow.db", MODEL)
        time.sleep(args.lead)
        rss_before = {name: s.rss_kib() for name, s in servers.items()}
        log("RSS before the first swap: " + ", ".join(f"{n} {v / 1024:.0f} MiB" for n, v in rss_before.items()))
        swaps: list[Swap] = []
        current = "1"
        for cycle in range(1, args.cycles + 1):
            for kind in ("promote", "rollback"):
                swap = move_alias(kind, runs["B"], env, workdir, servers["swap"], load, alias, current,
                                  args.settle)
                swaps.append(swap)
                current = swap.new
            done = [r for r in load.requests if r.server == "swap"]
            log(f"cycle {cycle}/{args.cycles} done: {len(done)} requests to the swapping server so far, "
                f"{sum(r.error is not None for r in done)} failed")
        for server in servers.values():
            server.workers_at_end = server.workers()
        rss_after = {name: s.rss_kib() for name, s in servers.items()}
        pss_after = {name: s.pss_kib() for name, s in servers.items()}
        log(f"RSS after {len(swaps)} swaps: " + ", ".join(f"{n} {v / 1024:.0f} MiB" for n, v in rss_after.items()))
        load.stop()
        rss.stop()
        final_models = servers["swap"].models()
        for server in servers.values():
            stop_group(server.process)
        result = summarize(load, swaps, servers, rss, rss_before, rss_after, pss_after)
        log_lines = {name: [line for line in log_text(s.log_path).split("\nstopping ")[0].splitlines()
                            if not line.startswith("{") and re.search(
                                r"ERROR|Traceback|Exception|refused|unreachable|died|exited|Invalid", line)]
                     for name, s in servers.items()}  # up to the shutdown; access-log lines left out
        with open(workdir / "requests.csv", "w") as out:
            out.write("server,connection,sent_s,latency_s,status,version,error\n")
            for r in load.requests:
                out.write(f"{r.server},{r.connection},{r.sent - load.started:.6f},{r.latency:.6f},{r.status},"
                          f"{r.version or ''},{json.dumps(r.error) if r.error else ''}\n")
        info = {"date": time.strftime("%Y-%m-%d %H:%M"), "code": code, "machine": machine(), "versions": versions(),
                "load_start": load_start, "load_end": load_average(), "result": result, "cycles": args.cycles,
                "concurrency": args.concurrency, "lead_s": args.lead, "settle_s": args.settle, "spread": spread,
                "wall_s": time.perf_counter() - wall0}
        (workdir / "results.json").write_text(json.dumps({**info, "final_models": final_models,
                                                          "log_lines": log_lines}, indent=1, default=str))
        text = section(info)
        if args.no_doc:
            print(text)
        else:
            plot(load, swaps, result)
            write_doc(text)
            log(f"wrote {DOC.relative_to(ROOT)} ({SECTION}), {PNG.relative_to(ROOT)}")
        for name, lines in log_lines.items():
            for line in lines[:10]:
                log(f"{name} log: {line[:300]}")
        print("\n".join(f"{'OK  ' if ok else 'MISS'} {name}: {measured} (required {required})"
                        for name, required, measured, ok in result["targets"]))
        failed = not all(ok for *_, ok in result["targets"])
        return 1 if failed else 0
    finally:
        if load is not None:
            load.stop()
        if rss is not None:
            rss.stop()
        for server in servers.values():
            if server.process is not None:
                stop_group(server.process)
        if failed or args.keep:
            log(f"kept {workdir} (store, server logs, results.json)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
