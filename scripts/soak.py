"""Soak test: `tagifai serve --workers 2` under 60 s of closed-loop load at concurrency 32, mixed batch sizes.

    python scripts/soak.py [--model-uri models:/tagifai@champion] [--duration 60] [--concurrency 32]
                           [--workers 2] [--warmup 10] [--output soak.json] [--fresh-store]

Pass criteria (exit 0): zero errors (every answer a 200 with one prediction per row sent, no connection lost,
no worker restarted) and resident memory (supervisor + all workers) growing < 10% from the end of the warm-up to
the end of the run. Reports p50/p90/p99/max latency per batch size and overall, throughput, RSS per process.

Everything stays on 127.0.0.1. The request loop is bounded (deadline and --max-requests). The server runs in
its own process group and is stopped (SIGTERM, then SIGKILL) whatever happens. --fresh-store trains and
promotes a model into a throw-away SQLite store first (a clean checkout has no champion).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.http import Connection, get  # noqa: E402 - after the path
from harness.ports import free_port  # noqa: E402
from harness.proc import rss_kib, worker_pids  # noqa: E402
from harness.processes import log_text, start_logged, stop_group, wait_workers_ready  # noqa: E402
from harness.stats import latency_summary  # noqa: E402

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
BATCH_MIX = {1: 0.50, 10: 0.30, 100: 0.15, 1000: 0.05}  # rows per request: share of requests
MAX_GROWTH = 0.10


# --- load ------------------------------------------------------------------------------------------------


def load_texts() -> list[str]:
    import csv

    with open(ROOT / "data" / "labeled_projects.csv", newline="", encoding="utf-8") as handle:
        return [f"{row['title']} {row['description']}".strip() for row in csv.DictReader(handle)]


def build_bodies(texts: list[str], per_size: int = 16) -> dict[int, list[bytes]]:
    """For each batch size, `per_size` different bodies (rotating through the dataset)."""
    bodies: dict[int, list[bytes]] = {}
    offset = 0
    for size in BATCH_MIX:
        bodies[size] = []
        for _ in range(per_size):
            rows = [texts[(offset + i) % len(texts)] for i in range(size)]
            offset += size
            bodies[size].append(json.dumps({"dataframe_records": [{"text": t} for t in rows]}).encode())
    return bodies


async def run_load(port: int, bodies: dict[int, list[bytes]], concurrency: int, seconds: float,
                   max_requests: int, seed: int, reconnect: bool = False) -> dict:
    """`concurrency` closed loops until `seconds` pass or `max_requests` are sent: latencies and errors.
    `reconnect`: a new connection per request (the warm-up: each worker accepts some, so each one warms up)."""
    rng = random.Random(seed)
    sizes, weights = list(BATCH_MIX), list(BATCH_MIX.values())
    deadline = time.perf_counter() + seconds
    samples: list[tuple[int, float]] = []  # (batch size, latency s)
    errors: list[str] = []
    sent = 0

    async def loop() -> None:
        nonlocal sent
        connection = Connection(HOST, port, reconnect=False)  # no retry: a lost connection is an error of the soak
        try:
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                size = rng.choices(sizes, weights)[0]
                body = rng.choice(bodies[size])
                started = time.perf_counter()
                try:
                    status, answer = await asyncio.wait_for(connection.post(body), timeout=120)
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    await connection.close()
                    continue
                elapsed = time.perf_counter() - started
                if status != 200:
                    errors.append(f"HTTP {status}: {answer[:200]!r}")
                elif answer.count(b'"predicted_tag"') != size:
                    errors.append(f"{answer.count(b'predicted_tag')} predictions for {size} rows")
                else:
                    samples.append((size, elapsed))
                if reconnect:
                    await connection.close()
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return {"samples": samples, "errors": errors, "elapsed": time.perf_counter() - started}


def latency_table(samples: list[tuple[int, float]]) -> dict:
    table = {}
    groups = {"all": [s for _, s in samples], **{str(size): [s for b, s in samples if b == size] for size in BATCH_MIX}}
    for name, values in groups.items():
        table[name] = {"requests": len(values), **latency_summary(values, (50, 90, 99), digits=1),
                       "max_ms": round(max(values) * 1000, 1) if values else None}
    return table


# --- the run -------------------------------------------------------------------------------------------------


def fresh_store(workdir: Path, env: dict[str, str]) -> str:
    """Train with the shipped arguments and promote, in a throw-away SQLite store; the champion URI."""
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    for step in (["train"], ["promote", "--force"]):
        print(f"soak: tagifai {' '.join(step)} (fresh store)", flush=True)
        subprocess.run([str(BIN / "tagifai"), *step], env=env, cwd=workdir, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return "models:/tagifai@champion"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-uri", default="models:/tagifai@champion")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of the same load before measuring")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="bound on requests per phase")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    parser.add_argument("--fresh-store", action="store_true", help="train + promote into a temporary store first")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tagifai-soak-"))
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    model_uri = fresh_store(workdir, env) if args.fresh_store else args.model_uri
    port = free_port()
    log_path = workdir / "server.log"
    command = [str(BIN / "tagifai"), "serve", "--model-uri", model_uri, "--host", HOST, "--port", str(port),
               "--workers", str(args.workers)]
    print(f"soak: {' '.join(command)}", flush=True)
    server = start_logged(command, log_path, env=env, cwd=workdir if args.fresh_store else None)
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        try:
            wait_workers_ready(server, log_path, args.workers, timeout=300)
        except RuntimeError:
            print(f"soak: the server exited ({server.returncode}):\n{log_text(log_path)[-2000:]}\n"
                  "Train and promote a model first (make train promote), or pass --fresh-store.", file=sys.stderr)
            return 2
        except TimeoutError:
            print("soak: the workers did not become ready within 300 s", file=sys.stderr)
            return 2
        workers = worker_pids(server.pid)
        processes = [server.pid, *workers]
        rss_start = {pid: rss_kib(pid) for pid in processes}
        bodies = build_bodies(load_texts())
        print(f"soak: workers {workers} ready; warm-up {args.warmup:.0f}s, then {args.duration:.0f}s at "
              f"concurrency {args.concurrency}, batch mix {BATCH_MIX}", flush=True)

        warm = asyncio.run(run_load(port, bodies, args.concurrency, args.warmup, args.max_requests, args.seed,
                                    reconnect=True))
        rss_base = {pid: rss_kib(pid) for pid in processes}
        rss_series: list[int] = []

        async def measured():
            async def sample():
                while True:
                    rss_series.append(sum(rss_kib(pid) for pid in processes))
                    await asyncio.sleep(1.0)
            sampler = asyncio.create_task(sample())
            try:
                return await run_load(port, bodies, args.concurrency, args.duration, args.max_requests,
                                      args.seed + 1)
            finally:
                sampler.cancel()

        cpu_before = time.process_time()
        run = asyncio.run(measured())
        client_cpu = time.process_time() - cpu_before
        rss_end = {pid: rss_kib(pid) for pid in processes}
        restarted = worker_pids(server.pid) != workers
        metrics_text = ""
        try:
            metrics_text = get(f"http://{HOST}:{port}/metrics", timeout=30)[1].decode()
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            run["errors"].append(f"/metrics: {exc}")
    finally:
        stop_group(server, term_grace=40.0)
        signal.signal(signal.SIGTERM, previous_handler)

    server_5xx = sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
                     if line.startswith("tagifai_requests_total{") and re.search(r'status="5\d\d"', line))
    total_base, total_end = sum(rss_base.values()), sum(rss_end.values())
    growth = (total_end - total_base) / total_base
    requests = len(run["samples"])
    rows = sum(size for size, _ in run["samples"])
    errors = run["errors"] + warm["errors"] + (["a worker was restarted"] if restarted else [])
    result = {
        "command": " ".join(command),
        "duration_s": round(run["elapsed"], 1), "warmup_s": args.warmup, "concurrency": args.concurrency,
        "workers": args.workers, "batch_mix": {str(k): v for k, v in BATCH_MIX.items()},
        "requests": requests, "rows": rows, "req_per_s": round(requests / run["elapsed"], 1),
        "rows_per_s": round(rows / run["elapsed"], 1), "warmup_requests": len(warm["samples"]),
        "errors": len(errors), "first_errors": errors[:5], "server_5xx_in_metrics": server_5xx,
        "latency": latency_table(run["samples"]),
        "rss_mib": {
            "at_start": {str(p): round(v / 1024, 1) for p, v in rss_start.items()},
            "after_warmup": {str(p): round(v / 1024, 1) for p, v in rss_base.items()},
            "at_end": {str(p): round(v / 1024, 1) for p, v in rss_end.items()},
            "total_after_warmup": round(total_base / 1024, 1), "total_at_end": round(total_end / 1024, 1),
            "total_max": round(max(rss_series or [total_end]) / 1024, 1),
            "growth_pct": round(100 * growth, 2),
            "growth_from_start_pct": round(100 * (total_end - sum(rss_start.values())) / sum(rss_start.values()), 2),
        },
        "client_cpu_s": round(client_cpu, 1),
        "passed": not errors and not server_5xx and growth < MAX_GROWTH,
    }
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"soak: {'PASSED' if result['passed'] else 'FAILED'}: {requests} requests ({rows} rows) in "
          f"{run['elapsed']:.0f}s, {len(errors)} errors, p50 {result['latency']['all']['p50_ms']} ms, "
          f"p99 {result['latency']['all']['p99_ms']} ms, RSS {growth:+.1%}", flush=True)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
