"""`make bench`: serving latency, throughput, cold start and memory, side by side, into docs/benchmarks.md.

One run, one trained pipeline (trained here into a throw-away SQLite store from whatever config/args.json
says now, or --model-uri), the real project texts of data/labeled_projects.csv:

- in-process: the raw scikit-learn pipeline (cleaning + predict_proba: the limit), our Predictor without
  MLflow, and our pyfunc model through mlflow.pyfunc.load_model (a DataFrame in, a DataFrame out);
- over HTTP on 127.0.0.1: `tagifai serve` (1 and 2 workers), plain `mlflow models serve` (1 worker), and a
  hand-written FastAPI + pydantic app (benchmarks/fastapi_app.py, 1 and 2 workers); plus `tagifai serve` with
  the prediction cache on, and with a shadow challenger, reported apart (the headline figures run without).

All servers run at once. The load generator (benchmarks/loadgen.py, its own process) sends the concurrency-1
requests to all servers in turn, request by request, and runs the concurrency-8 cells one server after another,
round after round in alternating order, so a load spike from elsewhere on a shared machine hits every stack
alike: compare ratios, not absolute times. Every HTTP answer is checked against the in-process prediction of the
plain sklearn pipeline (tags equal, probabilities within 1e-9): a wrong answer counts as an error. A last table
measures each speed change on its own: CPU per request through the served ASGI app in this process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.loadgen import batch_indices, request_body  # noqa: E402 - the repo is on sys.path from here
from harness import proc  # noqa: E402
from harness.http import TRANSPORT_ERRORS, post_json  # noqa: E402
from harness.http import get as http_get  # noqa: E402
from harness.ports import free_port  # noqa: E402
from harness.processes import start_logged, stop_group, wait_up  # noqa: E402
from harness.reference import TOLERANCE, mismatch, reference_predictions  # noqa: E402
from harness.stats import latency_summary  # noqa: E402

BIN = Path(sys.executable).parent
DOC = ROOT / "docs" / "benchmarks.md"
LATENCY_PNG = ROOT / "docs" / "bench_serving_latency.png"
THROUGHPUT_PNG = ROOT / "docs" / "bench_serving_throughput.png"
SECTION = "## Serving"
BATCHES = (1, 10, 100, 1000)
CONCURRENCY = (1, 8)
CACHE_SIZE = 4096
CACHE_BATCHES = (1, 100)  # the extra servers (cache on, shadow challenger) only run these
EXTRA_TARGETS = ("tagifai-1-cache", "tagifai-1-shadow")  # reported in tables of their own, not in the headline
SHADOW_MODEL = "bench-serving"
HOST = "127.0.0.1"


# --- helpers ----------------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return ""

    lscpu = run(["lscpu"])
    model = re.search(r"Model name:\s*(.+)", lscpu)
    mem = re.search(r"Mem:\s+(\S+)", run(["free", "-h"]))
    return {
        "cpus": run(["nproc"]).strip() or str(os.cpu_count()),
        "cpu_model": model.group(1).strip() if model else platform.processor() or "?",
        "memory": mem.group(1) if mem else "?",
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def versions() -> str:
    from importlib.metadata import version

    names = ("mlflow", "scikit-learn", "fastapi", "uvicorn", "pydantic", "numpy", "pandas")
    return ", ".join(f"{n} {version(n)}" for n in names)


# --- the model and the expected answers ---------------------------------------------------------------------------


def train(workdir: Path) -> str:
    """Train with config/args.json as it is now, into a throw-away SQLite store; the LoggedModel's URI."""
    import mlflow

    from tagifai import config
    from tagifai.args import TrainArgs
    from tracking.runs import train_and_log

    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.create_experiment("bench-serving", artifact_location=(workdir / "artifacts").as_uri())
    args = TrainArgs.from_file(config.ARGS_PATH)
    log(f"training with {config.ARGS_PATH}: analyzer={args.analyzer} classifier={args.classifier}")
    return train_and_log(args, experiment_name="bench-serving", run_name="bench").model_uri


def register_twice(model_uri: str) -> None:
    """The trained model as versions 1 (champion) and 2 (challenger) of SHADOW_MODEL, for the shadow server."""
    from mlflow import MlflowClient

    import mlflow

    client = MlflowClient()
    client.create_registered_model(SHADOW_MODEL)
    run_id = mlflow.models.get_model_info(model_uri).run_id
    for alias in ("champion", "challenger"):
        version = client.create_model_version(SHADOW_MODEL, model_uri, run_id=run_id,
                                              model_id=model_uri.removeprefix("models:/"))
        client.set_registered_model_alias(SHADOW_MODEL, alias, version.version)


# --- in-process -----------------------------------------------------------------------------------------------------


def bench_in_process(model_uri: str, predictor_path: Path, texts: list[str], expected: list[dict],
                     seconds: float) -> tuple[list[dict], dict]:
    """Raw pipeline vs Predictor vs pyfunc, interleaved call by call so machine noise hits all three alike."""
    import joblib
    import mlflow
    import pandas as pd

    from tagifai.preprocess import clean_texts

    raw = joblib.load(predictor_path)  # its own copy: nothing of the other two is shared with the limit
    predictor = joblib.load(predictor_path)
    t0 = time.perf_counter()
    model = mlflow.pyfunc.load_model(model_uri)
    load_s = time.perf_counter() - t0
    n = len(texts)

    def check(frame, indices) -> None:
        problem = mismatch(frame.to_dict(orient="records"), [expected[i] for i in indices], tolerance=TOLERANCE)
        assert problem is None, problem

    rows = []
    for batch in BATCHES:
        pool = max(4, min(32, math.ceil(n / batch)))
        lists = [[texts[i] for i in batch_indices(k, batch, n)] for k in range(pool)]
        frames = [pd.DataFrame({"text": b}) for b in lists]
        check(model.predict(frames[0]), batch_indices(0, batch, n))
        stacks = {
            "raw sklearn pipeline (the limit)":
                lambda k: raw.pipeline.predict_proba(clean_texts(lists[k], lower=raw.lower, stem=raw.stem)),
            "tagifai Predictor (no MLflow)": lambda k: predictor.predict(lists[k]),
            "pyfunc (mlflow.pyfunc.load_model)": lambda k: model.predict(frames[k]),
        }
        for fn in stacks.values():  # warm-up
            for k in range(min(pool, 3)):
                fn(k)
        times = {name: [] for name in stacks}
        deadline = time.perf_counter() + seconds
        k = 0
        while time.perf_counter() < deadline and k < 20000:
            order = list(stacks.items())
            order = order[k % 3:] + order[:k % 3]  # rotate who goes first
            for name, fn in order:
                t = time.perf_counter()
                fn(k % pool)
                times[name].append(time.perf_counter() - t)
            k += 1
        for name, ts in times.items():
            mean = statistics.fmean(ts)
            rows.append({"stack": name, "workers": "-", "batch": batch, "concurrency": 1, "requests": len(ts),
                         **latency_summary(ts),
                         "req_per_s": 1 / mean, "rows_per_s": batch / mean, "errors": 0})
        log(f"in-process batch {batch}: " + ", ".join(
            f"{r['stack'].split(' (')[0]} {r['p50_ms']:.3f} ms" for r in rows[-3:]))
    return rows, {"pyfunc_load_s": load_s}


LEVERS = (  # each row: the served app built with these ServeSettings fields (the first: the defaults)
    ("`tagifai serve` app, default settings", {}),
    (f"+ prediction cache (cache_size={CACHE_SIZE}; every row a hit here)", {"cache_size": CACHE_SIZE}),
)


def bench_levers(model_path: str, predictor_path: Path, texts: list[str], seconds: float) -> list[dict]:
    """CPU per request through the served ASGI app in this process (no HTTP, no uvicorn: no client either), built
    with each row of LEVERS (settings of the app, nothing patched); the FastAPI app and our routes without the
    middleware and time limit for scale.

    CPU time (all threads of this process) rather than wall time: other work on a shared machine barely moves it.
    """
    import asyncio
    import logging

    import mlflow

    import serving.app as serving_app
    from serving.served import ModelIdentity
    from serving.settings import ServeSettings

    os.environ["BENCH_PREDICTOR_PATH"] = str(predictor_path)
    from benchmarks.fastapi_app import app as fastapi_app

    logging.getLogger("tagifai.access").disabled = True  # the access log is on in the served runs, not here
    model = mlflow.pyfunc.load_model(model_path)
    identity = ModelIdentity("bench", "1")

    def build(levers: dict):
        settings = ServeSettings(model_uri="bench", **levers)
        return serving_app.create_app(serving_app.serve_one(model, settings, identity), settings)

    apps = {name: build(levers) for name, levers in LEVERS}
    defaults = ServeSettings(model_uri="bench")
    only = serving_app.serve_one(model, defaults, identity)
    routes_only = serving_app.create_routes(only, defaults, lambda: {})

    async def call(app, path: str, body: bytes) -> None:
        sent, done = [], False

        async def receive():
            nonlocal done
            if not done:
                done = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                 "http_version": "1.1", "scheme": "http", "server": (HOST, 80), "client": (HOST, 1), "root_path": ""}
        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise RuntimeError(f"{path}: {sent[0]['status']} {sent[-1].get('body', b'')[:300]!r}")

    async def measure() -> list[dict]:
        rows = []
        for batch in (1, 1000):
            chunk = [texts[i] for i in batch_indices(0, batch, len(texts))]
            ours = request_body("mlflow", chunk)
            theirs = request_body("fastapi", chunk)
            cases = [(name, apps[name], "/invocations", ours) for name, _ in LEVERS]
            cases.append(("our routes without the middleware and time limit", routes_only, "/invocations", ours))
            cases.append(("FastAPI app (benchmarks/fastapi_app.py)", fastapi_app, "/predict", theirs))
            per_block = max(1, 200 // batch)
            cpu = {name: [] for name, *_ in cases}
            for name, app, path, body in cases:  # warm-up (and a first check that each answers 200)
                await call(app, path, body)
            deadline = time.perf_counter() + seconds * len(cases)
            rnd = 0
            while time.perf_counter() < deadline or rnd < 3:
                for name, app, path, body in cases[rnd % len(cases):] + cases[:rnd % len(cases)]:
                    t0 = time.process_time()
                    for _ in range(per_block):
                        await call(app, path, body)
                    cpu[name].append((time.process_time() - t0) / per_block)
                rnd += 1
            for name in cpu:
                rows.append({"variant": name, "batch": batch, "cpu_ms": statistics.median(cpu[name]) * 1e3,
                             "blocks": len(cpu[name])})
            log("levers, batch %d: %s" % (batch, ", ".join(f"{r['cpu_ms']:.3f}" for r in rows[-len(cases):])))
        return rows

    return asyncio.run(measure())


# --- servers ----------------------------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    stack: str
    workers: int
    command: list[str]
    env: dict[str, str]
    path: str
    fmt: str
    headline: bool = True
    port: int = 0
    process: subprocess.Popen | None = None
    cold_starts: list[float] = field(default_factory=list)
    rss: dict = field(default_factory=dict)
    log_path: Path | None = None

    @property
    def cold_start_s(self) -> float:
        """Median over the starts (the machine is shared: one start alone says little)."""
        return statistics.median(self.cold_starts) if self.cold_starts else math.nan

    def cold_start_text(self) -> str:
        shown = " / ".join(f"{x:.1f}" for x in self.cold_starts)
        return f"{self.cold_start_s:.1f} s" + (f" (median of {shown})" if len(self.cold_starts) > 1 else "")


def targets(model_uri: str, predictor_path: Path, only: set[str] | None, shadow: bool = False) -> list[Target]:
    base = dict(os.environ)
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"  # `mlflow models serve` execs uvicorn via bash
    base["PYTHONPATH"] = f"{ROOT}{os.pathsep}{base.get('PYTHONPATH', '')}"
    base.pop("PROMETHEUS_MULTIPROC_DIR", None)
    serve_env = {**base, "TAGIFAI_SERVE_CACHE_SIZE": "0"}
    fastapi_env = {**base, "BENCH_PREDICTOR_PATH": str(predictor_path)}
    out = []
    for workers in (1, 2):
        out.append(Target(f"tagifai-{workers}", "tagifai serve", workers, [
            str(BIN / "tagifai"), "serve", "--model-uri", model_uri, "--host", HOST, "--port", "{port}",
            "--workers", str(workers)], serve_env, "/invocations", "mlflow"))
    out.append(Target("mlflow-1", "mlflow models serve", 1, [
        str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local", "--host", HOST,
        "--port", "{port}", "--workers", "1"], base, "/invocations", "mlflow"))
    for workers in (1, 2):
        out.append(Target(f"fastapi-{workers}", "FastAPI app", workers, [
            sys.executable, "-m", "benchmarks.fastapi_serve", "--host", HOST, "--port", "{port}",
            "--workers", str(workers)], fastapi_env, "/predict", "fastapi"))
    out.append(Target("tagifai-1-cache", f"tagifai serve, cache {CACHE_SIZE}", 1, [
        str(BIN / "tagifai"), "serve", "--model-uri", model_uri, "--host", HOST, "--port", "{port}",
        "--workers", "1"], {**base, "TAGIFAI_SERVE_CACHE_SIZE": str(CACHE_SIZE)}, "/invocations", "mlflow",
        headline=False))
    if shadow:  # the same model, registered twice: champion and challenger cost the same
        out.append(Target("tagifai-1-shadow", "tagifai serve, shadow challenger", 1, [
            str(BIN / "tagifai"), "serve", "--model-uri", f"models:/{SHADOW_MODEL}@champion", "--challenger",
            f"models:/{SHADOW_MODEL}@challenger", "--host", HOST, "--port", "{port}", "--workers", "1"], serve_env,
            "/invocations", "mlflow", headline=False))
    return [t for t in out if only is None or t.name in only]


def start(target: Target, logdir: Path, text: str, want: dict, timeout: float = 90.0) -> None:
    """Start the server; cold start = process start to the first correct answer to a one-row request."""
    target.port = free_port()
    command = [part.replace("{port}", str(target.port)) for part in target.command]
    target.log_path = logdir / f"{target.name}.log"
    url = f"http://{HOST}:{target.port}{target.path}"
    body = request_body(target.fmt, [text])

    def answered() -> bool:
        try:
            status, answer = post_json(url, body, timeout=5)
        except TRANSPORT_ERRORS:
            return False
        if status != 200:
            return False
        if problem := mismatch(answer["predictions"][:1], [want], tolerance=TOLERANCE):
            raise RuntimeError(f"{target.name}: first answer is wrong: {problem}")
        return True

    t0 = time.perf_counter()
    target.process = start_logged(command, target.log_path, env=target.env, cwd=ROOT)
    wait_up(target.process, answered, timeout, f"{target.name}: a correct answer", target.log_path, interval=0.05)
    target.cold_starts.append(time.perf_counter() - t0)


def memory(target: Target) -> dict:
    """RSS of the server's process group; workers = its leaf processes (not multiprocessing's trackers).
    PSS splits pages shared by several processes (forked workers share the model) among them: its total is
    what the group really occupies, where the RSS total counts shared pages once per process."""
    group = proc.group_members(target.process.pid)
    parents = {p.ppid for p in group.values()}
    workers = [pid for pid in group if pid not in parents and "resource_tracker" not in proc.command_line(pid)]
    rss_mb = {pid: proc.rss_kib(pid) / 1024 for pid in group}
    return {"processes": len(group), "total_mb": sum(rss_mb.values()),
            "pss_total_mb": sum(proc.pss_kib(pid) / 1024 for pid in group),
            "per_worker_mb": statistics.fmean(rss_mb[pid] for pid in workers) if workers else math.nan,
            "workers_seen": len(workers)}


def stop(target: Target) -> None:
    if target.process is not None:
        stop_group(target.process, term_grace=15.0, kill_grace=5.0)


def cache_lookups(target: Target) -> dict[str, float]:
    """Hit and miss counts from the server's /metrics (tagifai_prediction_cache_total)."""
    text = http_get(f"http://{HOST}:{target.port}/metrics", timeout=10)[1].decode()
    counts = {"hit": 0.0, "miss": 0.0}
    for line in text.splitlines():
        match = re.match(r'tagifai_prediction_cache_total\{[^}]*result="(hit|miss)"[^}]*\}\s+(\S+)', line)
        if match:
            counts[match.group(1)] += float(match.group(2))
    return counts


# --- the load -----------------------------------------------------------------------------------------------------


def run_load(running: list[Target], texts, expected, args, workdir: Path) -> list[dict]:
    """Concurrency 1: all servers in one cell, request by request in turn. Concurrency 8: a cell per server,
    the servers taking turns cell by cell, the order reversed every other round."""
    cells = []
    for rnd in range(args.rounds):
        order = running if rnd % 2 == 0 else running[::-1]
        for batch in BATCHES:
            warmup = 2 if batch >= 100 else 10
            for conc in CONCURRENCY:
                common = {"batch": batch, "concurrency": conc, "round": rnd, "duration": args.duration,
                          "max_requests": args.max_requests, "warmup": warmup}
                names = [t.name for t in order if t.headline or batch in CACHE_BATCHES]
                if conc == 1:
                    cells.append({"targets": names, **common})
                else:
                    cells.extend({"target": name, **common} for name in names)
    spec = {"host": HOST, "client": args.client, "texts": texts, "expected": expected, "cells": cells,
            "targets": {t.name: {"port": t.port, "path": t.path, "format": t.fmt, "pgid": t.process.pid}
                        for t in running}}
    spec_path, result_path = workdir / "loadgen-spec.json", workdir / "loadgen-result.json"
    spec_path.write_text(json.dumps(spec))
    budget = sum(len(c.get("targets", [0])) for c in cells) * (args.duration + 20) + 60
    log(f"load generator: {len(cells)} cells of <= {args.duration:g} s or {args.max_requests} requests")
    subprocess.run([sys.executable, str(Path(__file__).with_name("loadgen.py")), str(spec_path), str(result_path)],
                   check=True, timeout=budget)
    return json.loads(result_path.read_text())


def aggregate(raw_cells: list[dict], by_name: dict[str, Target]) -> list[dict]:
    """Rounds of one cell pooled: all latencies, all requests over all timed windows."""
    grouped: dict[tuple, list[dict]] = {}
    for cell in raw_cells:
        grouped.setdefault((cell["target"], cell["batch"], cell["concurrency"]), []).append(cell)
    rows = []
    for (name, batch, conc), cells in grouped.items():
        lat = [x for c in cells for x in c["latencies"]]
        done, elapsed = sum(c["requests"] for c in cells), sum(c["elapsed_s"] for c in cells)
        t = by_name[name]
        rows.append({
            "target": name, "stack": t.stack, "workers": t.workers, "batch": batch, "concurrency": conc,
            "requests": done, **latency_summary(lat),
            "req_per_s": done / elapsed if elapsed else math.nan,
            "rows_per_s": done * batch / elapsed if elapsed else math.nan,
            "errors": sum(c["errors"] for c in cells),
            "first_error": next((c["first_error"] for c in cells if c["first_error"]), None),
            "client_cpu_us": statistics.fmean(c["client_cpu_us_per_req"] for c in cells),
            "server_cores": statistics.fmean(c["server_cores"] for c in cells),
        })
    return rows


# --- report -------------------------------------------------------------------------------------------------------


def find(rows, stack, batch, conc=1, workers=None) -> dict | None:
    for r in rows:
        if r["stack"] == stack and r["batch"] == batch and r["concurrency"] == conc and (
                workers is None or r["workers"] == workers):
            return r
    return None


def targets_table(inproc, served, by_name) -> list[tuple[str, str, str, bool]]:
    """(target, required, measured, holds) for the five targets of the issue."""
    out = []
    raw1 = find(inproc, "raw sklearn pipeline (the limit)", 1)
    pyf1 = find(inproc, "pyfunc (mlflow.pyfunc.load_model)", 1)
    ratio = pyf1["p50_ms"] / raw1["p50_ms"]
    out.append(("in-process pyfunc, 1 row, p50 / raw pipeline", "<= 1.25x",
                f"{ratio:.2f}x ({pyf1['p50_ms']:.3f} vs {raw1['p50_ms']:.3f} ms)", ratio <= 1.25))
    for w in (1, 2):
        ours, theirs = find(served, "tagifai serve", 1, 1, w), find(served, "FastAPI app", 1, 1, w)
        if ours and theirs:
            ratio = ours["p50_ms"] / theirs["p50_ms"]
            out.append((f"served 1 row p50, concurrency 1, {w} worker(s) / FastAPI app", "<= 1.0x",
                        f"{ratio:.2f}x ({ours['p50_ms']:.2f} vs {theirs['p50_ms']:.2f} ms)", ratio <= 1.0))
    raw1000 = find(inproc, "raw sklearn pipeline (the limit)", 1000)
    for w, conc in ((1, 1), (2, 8)):
        ours = find(served, "tagifai serve", 1000, conc, w)
        if ours:
            ratio = ours["rows_per_s"] / raw1000["rows_per_s"]
            out.append((f"served batch 1000 rows/s ({w} worker(s), concurrency {conc}) / raw in-process", ">= 0.8x",
                        f"{ratio:.2f}x ({ours['rows_per_s']:,.0f} vs {raw1000['rows_per_s']:,.0f} rows/s)",
                        ratio >= 0.8))
    for batch in BATCHES:
        one, two = find(served, "tagifai serve", batch, 8, 1), find(served, "tagifai serve", batch, 8, 2)
        if one and two:
            ratio = two["req_per_s"] / one["req_per_s"]
            per_core = (two["req_per_s"] / two["server_cores"]) / (one["req_per_s"] / one["server_cores"])
            out.append((f"2 workers / 1 worker, concurrency 8, batch {batch}: req/s", ">= 1.7x",
                        f"{ratio:.2f}x ({two['req_per_s']:,.0f} vs {one['req_per_s']:,.0f} req/s; the server got "
                        f"{two['server_cores']:.2f} vs {one['server_cores']:.2f} cores: {per_core:.2f}x per core)",
                        ratio >= 1.7))
    shadow, alone = find(served, "tagifai serve, shadow challenger", 1, 1, 1), find(served, "tagifai serve", 1, 1, 1)
    if shadow and alone:
        ratio = shadow["p50_ms"] / alone["p50_ms"]
        out.append(("shadow challenger / champion only, 1 row p50, concurrency 1", "<= 1.25x",
                    f"{ratio:.2f}x ({shadow['p50_ms']:.2f} vs {alone['p50_ms']:.2f} ms)", ratio <= 1.25))
    for name in ("tagifai-1", "tagifai-2"):
        t = by_name.get(name)
        if t and t.process is not None:
            out.append((f"cold start, tagifai serve {t.workers} worker(s)", "<= 6 s", t.cold_start_text(),
                        t.cold_start_s <= 6))
    return out


def plots(inproc, served) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, conc in zip(axes, CONCURRENCY):
        series = {}
        for r in served:
            if r["concurrency"] == conc and r["target"] not in EXTRA_TARGETS:
                series.setdefault(f"{r['stack']}, {r['workers']}w", []).append((r["batch"], r["p50_ms"]))
        if conc == 1:
            for r in inproc:
                series.setdefault(f"in-process: {r['stack']}", []).append((r["batch"], r["p50_ms"]))
        for label, points in series.items():
            points.sort()
            style = "--" if label.startswith("in-process") else "-"
            ax.plot([b for b, _ in points], [v for _, v in points], style, marker="o", label=label)
        ax.set(xscale="log", yscale="log", xlabel="rows per request", ylabel="p50 latency (ms)",
               title=f"p50 latency vs batch size, concurrency {conc}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(LATENCY_PNG, dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, (batch, key, label) in zip(axes, ((1, "req_per_s", "requests/s"), (1000, "rows_per_s", "rows/s"))):
        series = {}
        for r in served:
            if r["batch"] == batch and r["target"] not in EXTRA_TARGETS:
                series.setdefault(f"{r['stack']}, {r['workers']}w", []).append((r["concurrency"], r[key]))
        for name, points in series.items():
            points.sort()
            ax.plot([c for c, _ in points], [v for _, v in points], marker="o", label=name)
        raw = find(inproc, "raw sklearn pipeline (the limit)", batch)
        ax.axhline(raw[key], color="grey", linestyle="--", label="raw pipeline in-process (1 core)")
        ax.set(xticks=list(CONCURRENCY), xlabel="concurrent connections", ylabel=label,
               title=f"throughput vs concurrency, {batch} row(s) per request")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(THROUGHPUT_PNG, dpi=110)
    plt.close(fig)


def fmt(x, digits=2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


def section(info: dict) -> str:
    m, served, inproc, by_name = info["machine"], info["served"], info["inproc"], info["by_name"]
    lines = [
        SECTION, "",
        f"Regenerated by `make bench` (benchmarks/bench_serving.py) on {info['date']}; the whole run took "
        f"{info['wall_s'] / 60:.1f} min.",
        "",
        f"**Machine:** {m['cpus']} CPUs ({m['cpu_model']}), {m['memory']} RAM, {m['os']}, Python {m['python']}; "
        f"{info['versions']}. Load average at start / end: {info['load_start']} / {info['load_end']} "
        "(the machine is shared: read the ratios, all measured side by side in this one run, not the absolute "
        "times).",
        "",
        f"**Model:** trained in this run from config/args.json ({info['model_desc']}), model URI "
        f"`{info['model_uri']}`. **Inputs:** the {info['n_texts']} real project texts (title + description) of "
        "data/labeled_projects.csv; request k carries texts k*b ... k*b+b-1 (wrapping), so consecutive requests "
        "differ and no input repeats within a 1000-row request's neighbourhood.",
        "",
        "**Method.** All servers run at once on 127.0.0.1 (keep-alive HTTP/1.1, JSON). The load generator "
        "(benchmarks/loadgen.py) is its own process. Concurrency 1: one connection per server, the servers taking "
        "turns request by request (same inputs, so a load spike hits all alike; requests/s = 1 / mean latency). "
        "Concurrency 8: per server, 8 connections each sending its next request as soon as the previous answer "
        f"arrives, for at most {info['duration']:g} s or {info['max_requests']} requests after a short warm-up, "
        "the servers one after another. Everything is repeated for "
        f"{info['rounds']} rounds in alternating order and pooled. Every answer is checked against the plain "
        "sklearn pipeline's prediction (same tag, probabilities within 1e-9); errors count non-200 answers, "
        "transport failures and wrong answers. Server cores used = CPU time of the server's processes / "
        "elapsed. In-process rows run the three callers interleaved call by call in one thread (concurrency "
        "does not apply). Cold start is from process start to the first correct answer; RSS is read from /proc "
        "after the load (per worker = the serving processes; total = the server's whole process group, launcher "
        "included; PSS total shares pages used by several processes among them, e.g. the model that forked "
        "workers share); each server is started "
        f"{info['cold_starts']} time(s), one at a time, and the median is shown. `tagifai serve` and `mlflow "
        "models serve` get `{\"dataframe_records\": [{\"text\": ...}, ...]}`, the FastAPI app "
        "`{\"texts\": [{\"text\": ...}, ...]}`; all answer the same rows. The prediction cache is off unless "
        "said otherwise.",
        "",
        *targets_markdown(info["targets"]),
    ]
    lines += ["", "### Results", "",
              "| stack | workers | rows/request | concurrency | requests | p50 ms | p99 ms | requests/s | rows/s | "
              "errors | client CPU µs/req | server cores used | server CPU ms/req |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in inproc:
        lines.append(f"| in-process: {r['stack']} | - | {r['batch']} | - | {r['requests']} | {fmt(r['p50_ms'], 3)} | "
                     f"{fmt(r['p99_ms'], 3)} | {fmt(r['req_per_s'], 1)} | {fmt(r['rows_per_s'], 0)} | 0 | - | - | - |")
    for r in sorted(served, key=lambda r: (r["batch"], r["concurrency"], r["stack"], r["workers"])):
        if r["target"] in EXTRA_TARGETS:
            continue
        lines.append(f"| {r['stack']} | {r['workers']} | {r['batch']} | {r['concurrency']} | {r['requests']} | "
                     f"{fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | {fmt(r['req_per_s'], 1)} | {fmt(r['rows_per_s'], 0)} | "
                     f"{r['errors']} | {fmt(r['client_cpu_us'], 0)} | {fmt(r['server_cores'], 2)} | "
                     f"{fmt(r['server_cores'] / r['req_per_s'] * 1e3, 2)} |")
    levers = info.get("levers") or []
    if levers:
        cpu = {(r["variant"], r["batch"]): r["cpu_ms"] for r in levers}
        names = list(dict.fromkeys(r["variant"] for r in levers))
        lines += ["", "### What each setting buys", "",
                  "CPU time per request (all threads) through the served ASGI app inside the benchmark's process: no "
                  "HTTP, no client, so the machine's other load hardly moves it. Each row is the app built with one "
                  "more `ServeSettings` field than the row above; the first row is `tagifai serve` with its defaults. "
                  "The last two rows put the rest in scale.", "",
                  "| variant | CPU ms/request, 1 row | x previous | CPU ms/request, 1000 rows | x previous |",
                  "| --- | --- | --- | --- | --- |"]
        previous = None
        for name in names:
            one, thousand = cpu.get((name, 1)), cpu.get((name, 1000))
            chained = name in dict(LEVERS)

            def ratio(now, i):
                return f"{now / previous[i]:.2f}x" if chained and previous else ""

            lines.append(f"| {name} | {fmt(one, 3)} | {ratio(one, 0)} | {fmt(thousand, 1)} | {ratio(thousand, 1)} |")
            if chained:
                previous = (one, thousand)
    lines += ["", "![p50 latency vs batch size](bench_serving_latency.png)", "",
              "![throughput vs concurrency](bench_serving_throughput.png)", "",
              "### Cold start and memory", "",
              "| server | workers | cold start s | RSS per worker MiB | RSS total MiB (processes) | PSS total MiB |",
              "| --- | --- | --- | --- | --- | --- |"]
    for t in by_name.values():
        if t.process is None:
            continue
        lines.append(f"| {t.stack} | {t.workers} | {t.cold_start_text()} | {fmt(t.rss.get('per_worker_mb'), 0)} | "
                     f"{fmt(t.rss.get('total_mb'), 0)} ({t.rss.get('processes', '?')}) | "
                     f"{fmt(t.rss.get('pss_total_mb'), 0)} |")
    lines.append(f"| in-process `mlflow.pyfunc.load_model` (already imported) | - | "
                 f"{info['extra']['pyfunc_load_s']:.2f} | - | - | - |")
    cache = info.get("cache")
    if cache:
        lines += ["", "### Prediction cache (off in every figure above)", "",
                  f"`TAGIFAI_SERVE_CACHE_SIZE={CACHE_SIZE}` keeps the last {CACHE_SIZE} answers per worker, keyed by "
                  "text and threshold. This benchmark's inputs cycle through the same "
                  f"{info['n_texts']} texts, so after the first pass nearly every row is a hit: the best case, "
                  "not a typical one. Hit rate over the run (from /metrics): "
                  f"**{cache['hit_rate']:.1%}** ({cache['hit']:.0f} hits, {cache['miss']:.0f} misses).", "",
                  "| rows/request | concurrency | p50 ms off | p50 ms on | requests/s off | requests/s on | errors on |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in served:
            if r["target"] != "tagifai-1-cache":
                continue
            off = find(served, "tagifai serve", r["batch"], r["concurrency"], 1)
            lines.append(f"| {r['batch']} | {r['concurrency']} | {fmt(off['p50_ms'])} | {fmt(r['p50_ms'])} | "
                         f"{fmt(off['req_per_s'], 1)} | {fmt(r['req_per_s'], 1)} | {r['errors']} |")
    shadow = [r for r in served if r["target"] == "tagifai-1-shadow"]
    if shadow:
        lines += ["", "### Shadow challenger", "",
                  "`tagifai serve --challenger models:/bench-serving@challenger` (shadow mode, 1 worker): the champion "
                  "answers, and the challenger (here a second version of the same model, so the same cost) scores "
                  "every request's rows after the answer is sent, in a thread of the same worker.", "",
                  "| rows/request | concurrency | p50 ms champion only | p50 ms shadow | x | requests/s champion only "
                  "| requests/s shadow | x | errors |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in shadow:
            off = find(served, "tagifai serve", r["batch"], r["concurrency"], 1)
            lines.append(f"| {r['batch']} | {r['concurrency']} | {fmt(off['p50_ms'])} | {fmt(r['p50_ms'])} | "
                         f"{r['p50_ms'] / off['p50_ms']:.2f}x | {fmt(off['req_per_s'], 1)} | "
                         f"{fmt(r['req_per_s'], 1)} | {r['req_per_s'] / off['req_per_s']:.2f}x | {r['errors']} |")
    errors = [r for r in served if r["errors"]]
    if errors:
        lines += ["", "### Errors", ""] + [f"- {r['stack']} {r['workers']}w, batch {r['batch']}, concurrency "
                                           f"{r['concurrency']}: {r['errors']} ({r['first_error']})" for r in errors]
    notes = info.get("notes")
    if notes:
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def targets_markdown(targets) -> list[str]:
    """The "Targets" table: (target, required, measured, holds) rows."""
    return ["### Targets", "", "| target | required | measured | holds |", "| --- | --- | --- | --- |",
            *(f"| {name} | {required} | {measured} | {'yes' if holds else '**no**'} |"
              for name, required, measured, holds in targets)]


def write_doc(text: str, path: Path = DOC, SECTION: str = SECTION) -> None:  # noqa: N803 - the module's default
    """Replace our section (up to the next level-2 heading), keep every other section as it is."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start = old.find(f"\n{SECTION}\n")
    if old.startswith(f"{SECTION}\n"):
        start = 0
    if start == -1:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        begin = start + (0 if start == 0 else 1)
        nxt = re.search(r"^## ", old[begin + len(SECTION):], flags=re.MULTILINE)
        end = begin + len(SECTION) + nxt.start() if nxt else len(old)
        new = old[:begin] + text + ("\n" + old[end:] if nxt else "")
    path.write_text(new)


NOTES_PATH = Path(__file__).with_name("serving_notes.md")


# --- main -------------------------------------------------------------------------------------------------------


def main() -> None:
    global BATCHES
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-uri", help="serve this model instead of training one (models:/ or runs:/)")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per cell per round [2]")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all cells, order alternating [2]")
    parser.add_argument("--max-requests", type=int, default=20000, help="request cap per cell per round")
    parser.add_argument("--inproc-seconds", type=float, default=3.0, help="seconds per in-process batch size [3]")
    parser.add_argument("--lever-seconds", type=float, default=1.5,
                        help="seconds per variant and batch size in the levers table (0: skip) [1.5]")
    parser.add_argument("--cold-starts", type=int, default=2, help="starts per server for the cold start [2]")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load generator's HTTP client")
    parser.add_argument("--only", help="comma-separated servers: tagifai-1,tagifai-2,mlflow-1,fastapi-1,fastapi-2,"
                                       "tagifai-1-cache,tagifai-1-shadow")
    parser.add_argument("--batches", default="1,10,100,1000", help="rows per request [1,10,100,1000]")
    parser.add_argument("--no-doc", action="store_true", help="print the section, leave docs/ alone")
    args = parser.parse_args()
    BATCHES = tuple(int(b) for b in args.batches.split(","))

    wall0 = time.perf_counter()
    load_start = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    running: list[Target] = []
    try:
        import joblib
        import mlflow

        from tagifai import config
        from tagifai.data import load_projects

        if args.model_uri:
            model_uri = args.model_uri
            mlflow.set_tracking_uri(config.tracking_uri())
        else:
            model_uri = train(workdir)
            register_twice(model_uri)
        local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(workdir / "model")))
        predictor_path = next(local.rglob("predictor.joblib"))
        predictor = joblib.load(predictor_path)
        steps = " + ".join(type(s).__name__ for _, s in predictor.pipeline.steps)
        inner = getattr(predictor.pipeline.steps[0][1], "transformer_list", None)
        model_desc = steps + (f" [{', '.join(n for n, _ in inner)}]" if inner else "")
        texts = load_projects(config.DATA_PATH)[0]["text"].tolist()
        expected = reference_predictions(predictor, texts)  # the plain sklearn pipeline: what every stack must return

        log("in-process")
        inproc, extra = bench_in_process(model_uri, predictor_path, texts, expected, args.inproc_seconds)
        levers = bench_levers(str(local), predictor_path, texts, args.lever_seconds) if args.lever_seconds else []

        only = set(args.only.split(",")) if args.only else None
        all_targets = targets(model_uri, predictor_path, only, shadow=not args.model_uri)
        by_name = {t.name: t for t in all_targets}
        for t in all_targets:  # one at a time: cold starts do not compete with each other
            start(t, workdir, texts[0], expected[0])
            running.append(t)
            log(f"{t.name}: first correct answer after {t.cold_start_s:.2f} s")
        raw_cells = run_load(running, texts, expected, args, workdir)
        served = aggregate(raw_cells, by_name)
        for t in running:
            t.rss = memory(t)
        cache = None
        if "tagifai-1-cache" in by_name:
            counts = cache_lookups(by_name["tagifai-1-cache"])
            total = counts["hit"] + counts["miss"]
            cache = {**counts, "hit_rate": counts["hit"] / total if total else math.nan}
        for t in running:
            stop(t)
        for _ in range(args.cold_starts - 1):  # more cold starts, alone on the machine (as far as we can tell)
            for t in all_targets:
                start(t, workdir, texts[0], expected[0])
                stop(t)
        log("cold starts: " + ", ".join(f"{t.name} {t.cold_start_text()}" for t in all_targets))
    finally:
        for t in running:
            stop(t)
        for t in all_targets if "all_targets" in locals() else ():
            if t not in running:
                stop(t)

    info = {
        "machine": machine(), "versions": versions(), "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_start": load_start, "load_end": load_average(), "model_uri": model_uri, "model_desc": model_desc,
        "n_texts": len(texts), "duration": args.duration, "cold_starts": args.cold_starts, "max_requests": args.max_requests, "rounds": args.rounds,
        "inproc": inproc, "served": served, "levers": levers, "by_name": by_name, "extra": extra, "cache": cache,
        "notes": NOTES_PATH.read_text() if NOTES_PATH.exists() else "",
    }
    info["targets"] = targets_table(inproc, served, by_name)
    info["wall_s"] = time.perf_counter() - wall0
    text = section(info)
    (workdir / "results.json").write_text(json.dumps({k: v for k, v in info.items() if k != "by_name"}, default=str))
    if args.no_doc:
        print(text)
    else:
        plots(inproc, served)
        write_doc(text)
        log(f"wrote {DOC.relative_to(ROOT)}, {LATENCY_PNG.name}, {THROUGHPUT_PNG.name}")
    print("\n".join(f"{'OK  ' if ok else 'MISS'} {name}: {measured} (required {req})"
                    for name, req, measured, ok in info["targets"]))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
