"""`make bench-batching`: adaptive micro-batching in `tagifai serve`, side by side, into docs/benchmarks.md.

One run, one model (trained here like `make bench`, or --model-uri), the real project texts, one-row requests.
All servers run at once on 127.0.0.1, 1 worker each: `tagifai serve` with batching off (--max-batch-size 1) and
with a few batch settings, and the hand-written FastAPI app of benchmarks/. The load generator
(benchmarks/loadgen.py, its own process) runs concurrency 1 on all servers in turn, request by request, and every
other concurrency as a cell per server, the servers taking turns; the whole grid is repeated for --rounds rounds
in alternating order (interleaved), and each figure is the median over the rounds. Every answer is checked
against the plain sklearn pipeline. The physical limit: in-process `predict_records` at 1000 rows a call, one
thread (one core).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_serving import (  # noqa: E402 - the repo is on sys.path from here
    BIN, DOC, HOST, Target, load_average, log, machine, start, stop, train, write_doc)
from harness.reference import reference_predictions  # noqa: E402

SECTION = "## Micro-batching"
PNG = ROOT / "docs" / "bench_batching.png"
CONCURRENCY = (1, 4, 16, 32, 64)
# (label, --max-batch-size, --max-batch-wait-ms); labels name log files: no slashes
SETTINGS = (("off", 1, 0.0), ("b16-w2ms", 16, 2.0), ("b64-w2ms", 64, 2.0), ("b64-w5ms", 64, 5.0))
HEADLINE, OFF, FASTAPI = "tagifai b64-w2ms", "tagifai off", "fastapi"


def serve_env(workdir: Path) -> dict[str, str]:
    """The servers' environment: the venv and the repo on the paths, no TAGIFAI_SERVE_* of the caller's, and the
    inference log (on by default) in the run's folder, not the checkout."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TAGIFAI_SERVE_")}
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
    base["PYTHONPATH"] = f"{ROOT}{os.pathsep}{base.get('PYTHONPATH', '')}"
    base.pop("PROMETHEUS_MULTIPROC_DIR", None)
    base["TAGIFAI_SERVE_INFERENCE_LOG"] = f"sqlite:///{workdir / 'inference.db'}"
    return base


def targets(model_uri: str, predictor_path: Path, workdir: Path) -> list[Target]:
    base = serve_env(workdir)
    out = [Target(f"tagifai {label}", "tagifai serve", 1, [
        str(BIN / "tagifai"), "serve", "--model-uri", model_uri, "--host", HOST, "--port", "{port}", "--workers", "1",
        "--max-batch-size", str(size), "--max-batch-wait-ms", str(wait)], base, "/invocations", "mlflow")
        for label, size, wait in SETTINGS]
    out.append(Target(FASTAPI, "FastAPI app", 1, [
        sys.executable, "-m", "benchmarks.fastapi_serve", "--host", HOST, "--port", "{port}", "--workers", "1"],
        {**base, "BENCH_PREDICTOR_PATH": str(predictor_path)}, "/predict", "fastapi"))
    return out


def in_process_rows_per_s(predictor, texts: list[str], seconds: float) -> float:
    batch = [texts[i % len(texts)] for i in range(1000)]
    predictor.predict_records(batch)  # warm: per-word tables
    rates = []
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            predictor.predict_records(batch)
            n += 1000
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def run_load(running: list[Target], texts, expected, args, workdir: Path) -> list[dict]:
    cells = []
    for rnd in range(args.rounds):
        order = running if rnd % 2 == 0 else running[::-1]
        for conc in CONCURRENCY:
            common = {"batch": 1, "concurrency": conc, "round": rnd, "duration": args.duration,
                      "max_requests": args.max_requests, "warmup": 10}
            if conc == 1:
                cells.append({"targets": [t.name for t in order], **common})
            else:
                cells.extend({"target": t.name, **common} for t in order)
    return run_cells(running, cells, texts, expected, workdir, len(cells) * len(running) * (args.duration + 20) + 60)


def run_cells(running: list[Target], cells: list[dict], texts, expected, workdir: Path, budget: float) -> list[dict]:
    """`cells` run by the load generator (benchmarks/loadgen.py, its own process) against the running servers."""
    spec = {"host": HOST, "client": "raw", "texts": texts, "expected": expected, "cells": cells,
            "targets": {t.name: {"port": t.port, "path": t.path, "format": t.fmt, "pgid": t.process.pid}
                        for t in running}}
    spec_path, result_path = workdir / "spec.json", workdir / "result.json"
    spec_path.write_text(json.dumps(spec))
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "loadgen.py"), str(spec_path), str(result_path)],
                   check=True, timeout=budget)
    return json.loads(result_path.read_text())


@contextmanager
def servers_up(wanted: list[Target], workdir: Path, text: str, want: dict) -> Iterator[list[Target]]:
    """Start every target (each checked by a first correct answer); stop them all on the way out."""
    running = []
    try:
        for target in wanted:
            start(target, workdir, text, want)
            running.append(target)
            log(f"{target.name}: up after {target.cold_start_s:.1f} s")
        yield running
    finally:
        for target in running:
            stop(target)


def run_facts(args, load_start: str, wall0: float) -> dict:
    """What every section says about its run: machine, date, load, cells' length and rounds, wall time."""
    return {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "load_start": load_start,
            "load_end": load_average(), "duration": args.duration, "rounds": args.rounds,
            "wall_s": time.perf_counter() - wall0}


def print_targets(text: str, targets: list[tuple[str, str, str, bool]]) -> None:
    print(text)
    for name, req, got, ok in targets:
        print(f"{'OK  ' if ok else 'MISS'} {name}: {got} (required {req})")


def load_arguments(doc: str, duration: float, rounds: int, max_requests: int) -> argparse.ArgumentParser:
    """The options every interleaved load benchmark takes (its docstring's first paragraph as the description)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--model-uri", help="serve this model instead of training one")
    parser.add_argument("--duration", type=float, default=duration, help=f"seconds per cell per round [{duration:g}]")
    parser.add_argument("--rounds", type=int, default=rounds, help=f"interleaved rounds; figures are medians [{rounds}]")
    parser.add_argument("--max-requests", type=int, default=max_requests)
    parser.add_argument("--no-doc", action="store_true")
    return parser


def model_and_texts(model_uri: str | None, workdir: Path) -> tuple[str, Path, list[str], list[dict]]:
    """(the model's URI - trained here unless given -, its predictor file, the project texts, the sklearn
    pipeline's answers to them: what every served answer is checked against)."""
    import joblib
    import mlflow

    from tagifai import config
    from tagifai.data import load_projects

    if model_uri:
        mlflow.set_tracking_uri(config.tracking_uri())
    else:
        model_uri = train(workdir)
    local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(workdir / "model")))
    predictor_path = next(local.rglob("predictor.joblib"))
    texts = load_projects(config.DATA_PATH)[0]["text"].tolist()
    return model_uri, predictor_path, texts, reference_predictions(joblib.load(predictor_path), texts)


def medians(cells: list[dict]) -> dict[tuple[str, int], dict]:
    """(target, concurrency) -> the median over rounds of requests/s, p50, p99; errors summed."""
    grouped: dict[tuple[str, int], list[dict]] = {}
    for cell in cells:
        grouped.setdefault((cell["target"], cell["concurrency"]), []).append(cell)
    return {key: {"req_per_s": statistics.median(c["req_per_s"] for c in group),
                  "p50_ms": statistics.median(c["p50_ms"] for c in group),
                  "p99_ms": statistics.median(c["p99_ms"] for c in group),
                  "rounds": [round(c["req_per_s"]) for c in group],
                  "errors": sum(c["errors"] for c in group),
                  "first_error": next((c["first_error"] for c in group if c["first_error"]), None)}
            for key, group in grouped.items()}


def plot(names: list[str], table: dict) -> None:
    from tagifai.plots import new_figure

    fig, ax = new_figure((11, 4.2))
    fig.delaxes(ax)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for name in names:
        conc = [c for c in CONCURRENCY if (name, c) in table]
        [line] = left.plot(conc, [table[name, c]["req_per_s"] for c in conc], marker="o", label=name)
        color = line.get_color()  # one colour per server in both panels
        right.plot(conc, [table[name, c]["p50_ms"] for c in conc], marker="o", color=color, label=f"{name} p50")
        right.plot(conc, [table[name, c]["p99_ms"] for c in conc], marker="x", linestyle=":", color=color, alpha=0.6)
    for ax_, ylabel in ((left, "requests/s (one-row requests)"), (right, "latency ms (o p50, x p99)")):
        ax_.set_xscale("log", base=2)
        ax_.set_xlabel("concurrency (connections)")
        ax_.set_ylabel(ylabel)
        ax_.grid(alpha=0.3)
    right.set_yscale("log")
    left.legend(fontsize=7)
    left.set_title("Throughput, 1 worker")
    right.set_title("Latency, 1 worker")
    fig.tight_layout()
    fig.savefig(PNG, dpi=110)


def section(info: dict) -> str:
    t, names = info["table"], info["names"]
    m = info["machine"]
    c32 = {n: t[n, 32]["req_per_s"] for n in names}
    ratio_off, ratio_fastapi = c32[HEADLINE] / c32[OFF], c32[HEADLINE] / c32[FASTAPI]
    p50_ratio = t[HEADLINE, 1]["p50_ms"] / t[OFF, 1]["p50_ms"]
    limit = c32[HEADLINE] / info["inproc_rows_per_s"]
    info["targets"] = [
        ("1 worker, 1-row requests, concurrency 32: batching vs --max-batch-size 1", ">= 2x", f"{ratio_off:.2f}x",
         ratio_off >= 2),
        ("... batching vs the hand-written FastAPI app", ">= 2.5x", f"{ratio_fastapi:.2f}x", ratio_fastapi >= 2.5),
        ("concurrency 1: p50 with batching / without", "<= 1.1x", f"{p50_ratio:.2f}x", p50_ratio <= 1.1),
    ]
    lines = [
        SECTION, "",
        f"Regenerated by `make bench-batching` (benchmarks/bench_batching.py) on {info['date']} in "
        f"{info['wall_s'] / 60:.1f} min. **Machine:** {m['cpus']} CPUs ({m['cpu_model']}), shared; load average "
        f"at start / end {info['load_start']} / {info['load_end']}: read the ratios, measured side by side.",
        "",
        "**Method.** One-row requests (real project texts, each request a different one) to servers that all run "
        "at once, 1 worker each: `tagifai serve` with batching off and with three settings (bN-wM: --max-batch-size N --max-batch-wait-ms M), and the hand-written "
        "FastAPI app (benchmarks/fastapi_serve.py). Concurrency 1: the servers take turns request by request. "
        f"Other concurrencies: per server, N keep-alive connections in a closed loop for {info['duration']:g} s, "
        f"the servers one after another. The grid is repeated {info['rounds']} times in alternating order "
        "(interleaved); every figure is the **median of the rounds**. Every answer is checked against the sklearn "
        "pipeline (errors: non-200, transport failures, wrong rows).",
        "",
        "| Target | Required | Measured | |", "|---|---|---|---|",
        *[f"| {name} | {req} | {got} | {'met' if ok else '**missed**'} |" for name, req, got, ok in info["targets"]],
        "",
        f"**Physical limit.** In-process `predict_records`, 1000 rows a call, one thread: "
        f"{info['inproc_rows_per_s']:,.0f} rows/s. Served with batching at concurrency 32: {c32[HEADLINE]:,.0f} "
        f"rows/s = **{limit:.2f}** of it (the rest is HTTP, parsing and answering per request).",
        "",
        "| Server | Conc. | req/s (median) | p50 ms | p99 ms | req/s per round | errors |", "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        for conc in CONCURRENCY:
            row = t.get((name, conc))
            if row:
                lines.append(f"| {name} | {conc} | {row['req_per_s']:,.0f} | {row['p50_ms']:.2f} | "
                             f"{row['p99_ms']:.2f} | {' / '.join(map(str, row['rounds']))} | {row['errors']} |")
    lines += ["", f"![Micro-batching: throughput and latency by concurrency]({PNG.name})", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = load_arguments(__doc__, duration=2.0, rounds=3, max_requests=50000).parse_args()
    wall0, load_start = time.perf_counter(), load_average()
    workdir = Path(tempfile.mkdtemp(prefix="bench-batching-"))
    import joblib

    model_uri, predictor_path, texts, expected = model_and_texts(args.model_uri, workdir)
    predictor = joblib.load(predictor_path)
    inproc = in_process_rows_per_s(predictor, texts, 3.0)
    log(f"in-process predict_records at 1000 rows: {inproc:,.0f} rows/s")
    with servers_up(targets(model_uri, predictor_path, workdir), workdir, texts[0], expected[0]) as running:
        cells = run_load(running, texts, expected, args, workdir)
    names = [t.name for t in running]
    info = {**run_facts(args, load_start, wall0), "names": names, "table": medians(cells), "inproc_rows_per_s": inproc}
    text = section(info)
    (workdir / "medians.json").write_text(json.dumps({f"{k[0]}|{k[1]}": v for k, v in info["table"].items()}))
    if args.no_doc:
        print(text)
    else:
        plot(names, info["table"])
        write_doc(text, DOC, SECTION)
        log(f"wrote {DOC.relative_to(ROOT)}, {PNG.name}")
    print_targets(text, info["targets"])


if __name__ == "__main__":
    main()
