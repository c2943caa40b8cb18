"""Closed-loop HTTP load generator for benchmarks/bench_serving.py, run as its own process.

    python benchmarks/loadgen.py SPEC.json RESULT.json

SPEC: {"host": "127.0.0.1", "client": "raw"|"httpx", "texts": [...], "expected": [...],
       "targets": {name: {"port", "path", "format": "mlflow"|"fastapi", "pgid"}},
       "cells": [{"target" or "targets", "batch", "concurrency", "duration", "max_requests", "warmup",
                  "settle" (optional: seconds of no load before the cell)}, ...]}
RESULT: one dict per cell: the cell, requests, elapsed_s, latencies (s), p50_ms, p99_ms, req_per_s, rows_per_s,
errors, first_error, client_cpu_us_per_req, server_cores (CPU of the server's process group / elapsed: how many
cores it got; "pgid" in its target).
Only 127.0.0.1 is accepted. A cell with "targets" (a list) runs at concurrency 1 on all of them in turn, request
by request (see run_paired_cell). Any other cell: `concurrency` keep-alive connections, each sending its next request as
soon as the previous answer arrived, until `duration` seconds or `max_requests` requests, whichever comes first
(after `warmup` untimed requests per connection). Request k of a cell carries texts k*batch ... (k+1)*batch - 1
(mod the number of texts), so consecutive requests differ. Every response body is kept and checked against the
expected in-process prediction after the timed window (the check costs no time inside it).

The default client speaks HTTP/1.1 over asyncio streams directly: on a 2-core machine the client's CPU is taken
from the server, and this one costs a fraction of httpx's per request (the result reports the client's CPU per
request either way, and `--client httpx` is there to compare).
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import proc  # noqa: E402 - the repo is on sys.path from here
from harness.http import Connection  # noqa: E402
from harness.reference import mismatch  # noqa: E402
from harness.stats import latency_summary  # noqa: E402

TOLERANCE = 1e-9


class HttpxConnection:
    def __init__(self, host: str, port: int, path: str):
        import httpx

        self.url = f"http://{host}:{port}{path}"
        self.client = httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=1))

    async def post(self, body: bytes) -> tuple[int, bytes]:
        response = await self.client.post(self.url, content=body, headers={"Content-Type": "application/json"})
        return response.status_code, response.content

    async def close(self) -> None:
        await self.client.aclose()


def group_cpu_seconds(pgid: int | None) -> float:
    """User + system CPU of every process in the server's process group (its workers included), from /proc."""
    return proc.group_cpu_seconds(pgid) if pgid else math.nan


def request_body(fmt: str, texts: list[str]) -> bytes:
    if fmt == "mlflow":
        return json.dumps({"dataframe_records": [{"text": t} for t in texts]}).encode()
    return json.dumps({"texts": [{"text": t} for t in texts]}).encode()


def batch_indices(k: int, batch: int, n: int) -> list[int]:
    start = (k * batch) % n
    return [(start + i) % n for i in range(batch)]


def check_response(status: int, body: bytes, indices: list[int], texts: list[str], expected: list[dict]) -> str | None:
    """None if the answer equals the in-process prediction for these texts, else what differs."""
    if status != 200:
        return f"status {status}: {body[:200]!r}"
    try:
        rows = json.loads(body)["predictions"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"unreadable body ({type(exc).__name__}): {body[:200]!r}"
    problem = mismatch(rows, [expected[i] for i in indices], [texts[i] for i in indices], TOLERANCE)
    return problem and f"texts {indices[0]}..{indices[-1]}: {problem}"


async def run_cell(spec: dict, cell: dict) -> dict:
    # Idle first, if asked: what the servers do in the background after a load (an inference log's last flush)
    # is then over before this cell, and not charged to whichever server the cell measures.
    await asyncio.sleep(cell.get("settle", 0))
    n = len(spec["texts"])
    target = spec["targets"][cell["target"]]
    batch, concurrency = cell["batch"], cell["concurrency"]
    cls = HttpxConnection if spec.get("client") == "httpx" else Connection
    # Enough distinct bodies that no two connections send the same one at once; built before the clock starts.
    pool = max(concurrency * 4, min(64, math.ceil(n / batch)), 8)
    bodies = _bodies(spec, target, batch, pool)
    connections = [cls(spec["host"], target["port"], target["path"]) for _ in range(concurrency)]
    latencies: list[float] = []
    kept: list[tuple[int, int, bytes]] = []
    failures: list[str] = []
    sent = ready = 0
    deadline = math.inf
    stop_at = cell["max_requests"]

    async def worker(conn, warmup: int) -> None:
        nonlocal sent
        nonlocal ready
        for w in range(warmup):
            await conn.post(bodies[w % pool])
        ready += 1
        await start.wait()
        while sent < stop_at and time.perf_counter() < deadline:
            k = sent
            sent += 1
            t0 = time.perf_counter()
            try:
                status, body = await conn.post(bodies[k % pool])
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                await conn.close()
                continue
            latencies.append(time.perf_counter() - t0)
            kept.append((k % pool, status, body))

    start = asyncio.Event()
    tasks = [asyncio.create_task(worker(c, cell["warmup"])) for c in connections]
    # Let every connection finish its warm-up, then open the window for all at once.
    while ready < concurrency and not any(t.done() for t in tasks):
        await asyncio.sleep(0.005)
    server_cpu0 = group_cpu_seconds(target.get("pgid"))
    gc.disable()  # the answers kept for the check would otherwise trigger collections inside the timed window
    try:
        cpu0, t_start = time.process_time(), time.perf_counter()
        deadline = t_start + cell["duration"]
        start.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t_start
    finally:
        gc.enable()
    cpu = time.process_time() - cpu0
    server_cores = (group_cpu_seconds(target.get("pgid")) - server_cpu0) / elapsed
    for conn in connections:
        await conn.close()
    wrong, first_wrong = _check_all(spec, batch, kept)
    done = len(latencies)
    return {
        **cell, "requests": done, "elapsed_s": elapsed, "latencies": latencies,
        **latency_summary(latencies),
        "req_per_s": done / elapsed if elapsed else math.nan, "rows_per_s": done * batch / elapsed if elapsed else 0,
        "errors": wrong + len(failures), "first_error": first_wrong or (failures[0] if failures else None),
        "client_cpu_us_per_req": cpu / done * 1e6 if done else math.nan, "server_cores": server_cores,
    }


def _bodies(spec: dict, target: dict, batch: int, pool: int) -> list[bytes]:
    texts, n = spec["texts"], len(spec["texts"])
    return [request_body(target["format"], [texts[i] for i in batch_indices(k, batch, n)]) for k in range(pool)]


def _check_all(spec: dict, batch: int, kept) -> tuple[int, str | None]:
    texts, n = spec["texts"], len(spec["texts"])
    wrong, first = 0, None
    for body_index, status, body in kept:
        problem = check_response(status, body, batch_indices(body_index, batch, n), texts, spec["expected"])
        if problem:
            wrong, first = wrong + 1, first or problem
    return wrong, first


async def run_paired_cell(spec: dict, cell: dict) -> list[dict]:
    """Concurrency 1 on several servers at once: one connection each, requests taking turns (A, B, C, A, ...),
    so a load spike from elsewhere on the machine hits every server alike. The same inputs go to each.

    requests/s = requests / the sum of their latencies (what one connection in a closed loop would get)."""
    names, batch = cell["targets"], cell["batch"]
    cls = HttpxConnection if spec.get("client") == "httpx" else Connection
    pool = max(8, min(64, math.ceil(len(spec["texts"]) / batch)))
    bodies = {name: _bodies(spec, spec["targets"][name], batch, pool) for name in names}
    conns = {name: cls(spec["host"], spec["targets"][name]["port"], spec["targets"][name]["path"]) for name in names}
    latencies = {name: [] for name in names}
    kept = {name: [] for name in names}
    failures = {name: [] for name in names}
    for w in range(cell["warmup"]):
        for name in names:
            await conns[name].post(bodies[name][w % pool])
    cpu0, t_start = time.process_time(), time.perf_counter()
    deadline = t_start + cell["duration"] * len(names)
    k = 0
    while k < cell["max_requests"] and time.perf_counter() < deadline:
        order = names[k % len(names):] + names[:k % len(names)]  # rotate who goes first
        for name in order:
            t0 = time.perf_counter()
            try:
                status, body = await conns[name].post(bodies[name][k % pool])
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                failures[name].append(f"{type(exc).__name__}: {exc}")
                await conns[name].close()
                continue
            latencies[name].append(time.perf_counter() - t0)
            kept[name].append((k % pool, status, body))
        k += 1
    cpu = time.process_time() - cpu0
    out = []
    for name in names:
        await conns[name].close()
        wrong, first = _check_all(spec, batch, kept[name])
        lat, done = latencies[name], len(latencies[name])
        busy = sum(lat)
        out.append({
            **{key: v for key, v in cell.items() if key != "targets"}, "target": name, "requests": done,
            "elapsed_s": busy, "latencies": lat,
            **latency_summary(lat),
            "req_per_s": done / busy if busy else math.nan, "rows_per_s": done * batch / busy if busy else 0,
            "errors": wrong + len(failures[name]),
            "first_error": first or (failures[name][0] if failures[name] else None),
            "client_cpu_us_per_req": cpu / max(1, k * len(names)) * 1e6, "server_cores": math.nan,
        })
    return out


async def main(spec: dict) -> list[dict]:
    if spec["host"] != "127.0.0.1":
        raise SystemExit("the load generator only talks to 127.0.0.1")
    results = []
    for cell in spec["cells"]:
        if "targets" in cell:
            results.extend(await run_paired_cell(spec, cell))
        else:
            results.append(await run_cell(spec, cell))
    return results


if __name__ == "__main__":
    spec_path, result_path = sys.argv[1], sys.argv[2]
    spec = json.loads(Path(spec_path).read_text())
    Path(result_path).write_text(json.dumps(asyncio.run(main(spec))))
