"""`make bench-monitor-log`: what the inference log costs `tagifai serve`, side by side, into docs/inference_log.md.

One run, one model (trained here like `make bench`, or --model-uri), the real project texts, one-row requests at
concurrency 8, 1 worker each: `tagifai serve --inference-log none`, with a SQLite log and with a PostgreSQL log
(a throw-away database; skipped if PostgreSQL is not up). All servers run at once on 127.0.0.1; the load
generator (benchmarks/loadgen.py, its own process) drives one at a time, the servers taking turns, for --rounds
interleaved rounds in alternating order; each figure is the median over the rounds. Every answer is checked
against the plain sklearn pipeline, and every scored row must be in the log (written + dropped = scored).
The writer's throughput is measured in-process: records queued, then written by one InferenceLog into a fresh
SQLite file and a fresh PostgreSQL database (rows built - hash, text statistics, JSON - and inserted).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_batching import (  # noqa: E402 - the repo is on sys.path from here
    load_arguments, medians, model_and_texts, print_targets, run_cells, run_facts, serve_env, servers_up)
from benchmarks.bench_serving import BIN, HOST, Target, load_average, log, write_doc  # noqa: E402
from harness.http import get  # noqa: E402

DOC = ROOT / "docs" / "inference_log.md"
JSON_OUT = ROOT / "docs" / "bench_inference_log.json"
PNG = ROOT / "docs" / "bench_inference_log.png"
SECTION = "## Overhead benchmark"
PG_ADMIN_URL = os.environ.get("TAGIFAI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CONCURRENCY = 8
TARGET_RATIO = 0.95
OFF = "log none"


def targets(model_uri: str, logs: dict[str, str], workdir: Path) -> list[Target]:
    base = serve_env(workdir)
    return [Target(name, "tagifai serve", 1, [
        str(BIN / "tagifai"), "serve", "--model-uri", model_uri, "--host", HOST, "--port", "{port}", "--workers", "1",
        "--inference-log", uri], base, "/invocations", "mlflow") for name, uri in logs.items()]


def run_load(running: list[Target], texts, expected, args, workdir: Path) -> list[dict]:
    cells = [{"target": target.name, "batch": 1, "concurrency": CONCURRENCY, "round": rnd, "duration": args.duration,
              "max_requests": args.max_requests, "warmup": 10}
             for rnd in range(args.rounds) for target in (running if rnd % 2 == 0 else running[::-1])]
    return run_cells(running, cells, texts, expected, workdir, len(cells) * (args.duration + 30) + 60)


def server_cpu_us(cells: list[dict]) -> dict[str, float]:
    """Median over rounds of the server's CPU per request (all its threads: the log's writer included)."""
    per: dict[str, list[float]] = {}
    for cell in cells:
        per.setdefault(cell["target"], []).append(cell["server_cores"] * cell["elapsed_s"] / cell["requests"] * 1e6)
    return {name: statistics.median(values) for name, values in per.items()}


def paired_ratios(cells: list[dict]) -> dict[str, list[float]]:
    """Per round, each log's requests/s over the log-off server's in the same round (adjacent cells: the shared
    machine's drift between rounds cancels out)."""
    by_round: dict[int, dict[str, float]] = {}
    for cell in cells:
        by_round.setdefault(cell["round"], {})[cell["target"]] = cell["req_per_s"]
    ratios: dict[str, list[float]] = {}
    for figures in by_round.values():
        for name, value in figures.items():
            if name != OFF and figures.get(OFF):
                ratios.setdefault(name, []).append(value / figures[OFF])
    return ratios


def log_counts(target: Target) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    names = {"tagifai_rows_scored_total": "scored", "tagifai_inference_log_written_total": "written",
             "tagifai_inference_log_dropped_total": "dropped", "tagifai_inference_log_failed_total": "failed"}
    counts = dict.fromkeys(names.values(), 0.0)
    _, body = get(f"http://{HOST}:{target.port}/metrics")
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name in names:
                counts[names[sample.name]] += sample.value
    return counts


def settled_counts(target: Target, timeout: float = 30.0) -> dict[str, float]:
    """The log's counts once the writer has caught up (written + dropped + failed = scored)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = log_counts(target)
        if counts["written"] + counts["dropped"] + counts["failed"] >= counts["scored"] or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def writer_throughput(model_uri: str, uri: str, texts: list[str], rows: int) -> dict:
    """One InferenceLog writing `rows` one-row records queued beforehand: rows/s end to end, and its parts."""
    import mlflow

    from serving.app import create_scorer
    from serving.inference_log import InferenceLog
    from serving.log_rows import Record, TextFacts, table_rows
    from serving.served import ModelIdentity, ServedVersion
    from serving.settings import ServeSettings

    identity = ModelIdentity("bench-inference-log", "1")
    model = mlflow.pyfunc.load_model(model_uri)
    served = ServedVersion(identity, create_scorer(model, ServeSettings(), identity))
    answers = served.scorer.predict(texts)
    records = [Record(served, [texts[i % len(texts)]], [answers[i % len(texts)]], f"r{i}", 0.002, time.time())
               for i in range(rows)]
    facts = TextFacts()  # remembered per text, as the writer does: texts repeat here as in live traffic
    t0 = time.perf_counter()
    for record in records:
        table_rows(record, False, facts)
    build_s = time.perf_counter() - t0
    inference_log = InferenceLog(uri, queue_size=rows + 1)
    for record in records:
        inference_log.queue.put_nowait(record)
    t0 = time.perf_counter()
    inference_log.start()
    inference_log.close(timeout=600)  # drains the whole queue, batch after batch
    total_s = time.perf_counter() - t0
    inference_log.engine.dispose()
    return {"rows": rows, "rows_per_s": rows / total_s, "build_us_per_row": build_s / rows * 1e6,
            "insert_rows_per_s": rows / max(total_s - build_s, 1e-9)}


def plot(info: dict) -> None:
    from tagifai.plots import new_figure

    fig, ax = new_figure((11, 4.2))
    fig.delaxes(ax)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    names = info["names"]
    table = info["table"]
    medians_ = [table[n]["req_per_s"] for n in names]
    left.bar(names, medians_, color=["#999999", "#1f77b4", "#2ca02c"][:len(names)])
    for i, name in enumerate(names):
        left.scatter([i] * len(table[name]["rounds"]), table[name]["rounds"], color="black", s=10, zorder=3)
        ratio = statistics.median(info["ratios"][name]) if name in info["ratios"] else 1.0
        left.text(i, medians_[i], f"{medians_[i]:,.0f}\n({ratio:.1%} of none)", ha="center", va="bottom", fontsize=8)
    left.set_ylabel(f"requests/s, one-row, concurrency {CONCURRENCY}")
    left.set_title("Throughput, 1 worker (bars: median; dots: rounds)")
    writers = info["writer"]
    right.bar(list(writers), [w["rows_per_s"] for w in writers.values()], color=["#1f77b4", "#2ca02c"][:len(writers)])
    for i, w in enumerate(writers.values()):
        right.text(i, w["rows_per_s"], f"{w['rows_per_s']:,.0f}", ha="center", va="bottom", fontsize=8)
    right.set_ylabel("rows/s written (one writer thread)")
    right.set_title("Writer throughput: rows built and inserted")
    for a in (left, right):
        a.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(PNG, dpi=110)


def section(info: dict) -> str:
    t, names, m = info["table"], info["names"], info["machine"]
    off = t[OFF]["req_per_s"]
    ratio = {n: statistics.median(r) for n, r in info["ratios"].items()}
    info["targets"] = [(f"requests/s with a {n.removeprefix('log ')} log / with none (median of the rounds' ratios)",
                        f">= {TARGET_RATIO:.0%}", f"{ratio[n]:.1%}", ratio[n] >= TARGET_RATIO)
                       for n in names if n != OFF]
    lines = [
        SECTION, "",
        f"Regenerated by `make bench-monitor-log` (benchmarks/bench_inference_log.py) on {info['date']} in "
        f"{info['wall_s'] / 60:.1f} min. **Machine:** {m['cpus']} CPUs ({m['cpu_model']}), shared; load average at "
        f"start / end {info['load_start']} / {info['load_end']}.",
        "",
        f"**Method.** One-row requests (real project texts, each request a different one), concurrency "
        f"{CONCURRENCY} keep-alive connections in a closed loop, {info['duration']:g} s per cell, to servers that all "
        "run at once, 1 worker each, default settings (micro-batching on) but for `--inference-log`. The servers take "
        f"turns; {info['rounds']} rounds in alternating order (interleaved); every figure is the **median of the "
        "rounds**. The target is judged on each round's ratio (a log's requests/s over the log-off server's in the "
        "same round, cells side by side), whose median is robust to the shared machine's drift between rounds. "
        "Every answer is checked against the sklearn pipeline; after the load each log's counters are read "
        "(written + dropped = scored).",
        "",
        "| Target | Required | Measured | |", "|---|---|---|---|",
        *[f"| {name} | {req} | {got} | {'met' if ok else '**missed**'} |" for name, req, got, ok in info["targets"]],
        "",
        "| Server | req/s (median) | vs none (medians) | ratio per round | p50 ms | p99 ms | server CPU µs/request | "
        "req/s per round | errors | rows written / dropped / scored |", "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        row, counts = t[name], info["counts"].get(name)
        logged = f"{counts['written']:,.0f} / {counts['dropped']:,.0f} / {counts['scored']:,.0f}" if counts else "-"
        per_round = " / ".join(f"{r:.0%}" for r in info["ratios"].get(name, [])) or "-"
        lines.append(f"| {name} | {row['req_per_s']:,.0f} | {row['req_per_s'] / off:.1%} | {per_round} | "
                     f"{row['p50_ms']:.2f} | "
                     f"{row['p99_ms']:.2f} | {info['cpu_us'][name]:.0f} | {' / '.join(map(str, row['rounds']))} | "
                     f"{row['errors']} | {logged} |")
    lines += ["", "**Writer throughput** (in-process, one InferenceLog, one-row records queued beforehand; rows built "
              "= hash + text statistics by the model + probabilities as JSON, then inserted "
              f"{info['batch_rows']} rows a transaction):", "",
              "| Database | rows/s end to end | building a row (µs) | insert-only rows/s |", "|---|---|---|---|"]
    for name, w in info["writer"].items():
        lines.append(f"| {name} | {w['rows_per_s']:,.0f} | {w['build_us_per_row']:.1f} | {w['insert_rows_per_s']:,.0f} |")
    lines += ["", f"![Inference log overhead and writer throughput]({PNG.name})", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = load_arguments(__doc__, duration=3.0, rounds=9, max_requests=200000)
    parser.add_argument("--writer-rows", type=int, default=50000, help="rows for the writer's throughput [50000]")
    args = parser.parse_args()
    wall0, load_start = time.perf_counter(), load_average()
    workdir = Path(tempfile.mkdtemp(prefix="bench-inference-log-"))
    from harness.postgres import create_database
    from serving.inference_log import MAX_BATCH_ROWS

    model_uri, _, texts, expected = model_and_texts(args.model_uri, workdir)
    logs, drops = {OFF: "none", "log sqlite": f"sqlite:///{workdir / 'inference.db'}"}, []
    try:
        url, drop = create_database(PG_ADMIN_URL, "tagifai_bench_log", driver="postgresql+psycopg2")
        logs["log postgresql"] = url
        drops.append(drop)
    except Exception as exc:  # noqa: BLE001 - psycopg2.OperationalError: no PostgreSQL here, its figures skipped
        log(f"PostgreSQL not reachable at {PG_ADMIN_URL}, its figures are skipped: {' '.join(str(exc).split())}")
    with servers_up(targets(model_uri, logs, workdir), workdir, texts[0], expected[0]) as running:
        cells = run_load(running, texts, expected, args, workdir)
        counts = {t.name: settled_counts(t) for t in running if t.name != OFF}
    writer = {}
    writer_urls = {"sqlite": f"sqlite:///{workdir / 'throughput.db'}"}
    try:
        url, drop = create_database(PG_ADMIN_URL, "tagifai_bench_writer", driver="postgresql+psycopg2")
        writer_urls["postgresql"] = url
        drops.append(drop)
    except Exception:  # noqa: BLE001 - said above
        pass
    try:
        for name, url in writer_urls.items():
            writer[name] = writer_throughput(model_uri, url, texts, args.writer_rows)
            log(f"writer into {name}: {writer[name]['rows_per_s']:,.0f} rows/s")
    finally:
        for drop in drops:
            drop()
    table = {name: row for (name, _), row in medians(cells).items()}
    info = {**run_facts(args, load_start, wall0), "names": [t.name for t in running], "table": table,
            "ratios": paired_ratios(cells), "cpu_us": server_cpu_us(cells), "counts": counts, "writer": writer,
            "batch_rows": MAX_BATCH_ROWS}
    text = section(info)
    if not args.no_doc:
        plot(info)
        write_doc(text, DOC, SECTION)
        JSON_OUT.write_text(json.dumps({k: v for k, v in info.items() if k != "machine"} | {"machine": info["machine"]},
                                       indent=2, default=str) + "\n")
        log(f"wrote {DOC.relative_to(ROOT)}, {JSON_OUT.name}, {PNG.name}")
    print_targets(text, info["targets"])


if __name__ == "__main__":
    main()
