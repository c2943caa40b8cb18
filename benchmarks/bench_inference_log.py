"""`make bench-monitor-log`: what the inference log costs `tagifai serve`, side by side, into docs/inference_log.md.

One run, one model (trained here like `make bench`, or --model-uri), the real project texts, one-row requests at
concurrency 8, 1 worker each: `tagifai serve --inference-log none` (twice: the second, the control, measures the
noise of the comparison), with a SQLite log and with a PostgreSQL log (a throw-away database; skipped if
PostgreSQL is not up). All servers run at once on 127.0.0.1; the load generator (benchmarks/loadgen.py, its own
process) drives one at a time, each cell after a pause longer than the log's flush interval, the servers taking
turns, for --rounds interleaved rounds in alternating order; the target is judged on the median of the rounds'
ratios. Every answer is checked against the plain sklearn pipeline, and every scored row must be in the log
(written + dropped = scored).
The writer's throughput is measured in-process: records queued, then written by one InferenceLog into a fresh
SQLite file and a fresh PostgreSQL database (rows built - hash, text statistics, JSON - and inserted).
"""

from __future__ import annotations

import json
import os
import random
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
CONTROL = "log none (control)"  # a second log-off server: its ratio to OFF is the measurement's own noise


def targets(model_uri: str, logs: dict[str, str], workdir: Path) -> list[Target]:
    base = serve_env(workdir)
    return [Target(name, "tagifai serve", 1, [
        str(BIN / "tagifai"), "serve", "--model-uri", model_uri, "--host", HOST, "--port", "{port}", "--workers", "1",
        "--inference-log", uri], base, "/invocations", "mlflow") for name, uri in logs.items()]


def run_load(running: list[Target], texts, expected, args, workdir: Path) -> list[dict]:
    from serving.inference_log import FLUSH_SECONDS

    settle = FLUSH_SECONDS + 0.2  # the previous cell's server has written its last rows before this cell starts
    cells = [{"target": target.name, "batch": 1, "concurrency": CONCURRENCY, "round": rnd, "duration": args.duration,
              "max_requests": args.max_requests, "warmup": 10, "settle": settle}
             for rnd in range(args.rounds) for target in (running if rnd % 2 == 0 else running[::-1])]
    return run_cells(running, cells, texts, expected, workdir, len(cells) * (args.duration + settle + 30) + 60)


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
    inference_log = InferenceLog(uri, queue_size=rows + 1)
    # Rows made as the writer makes them, remembered per text: texts repeat here as in live traffic.
    facts = TextFacts(copy=inference_log.database.copy)
    t0 = time.perf_counter()
    for record in records:
        table_rows(record, facts)
    build_s = time.perf_counter() - t0
    inference_log.queue.extend(records)
    t0 = time.perf_counter()
    inference_log.start()
    inference_log.close(timeout=600)  # drains the whole queue, batch after batch
    total_s = time.perf_counter() - t0
    inference_log.engine.dispose()
    return {"rows": rows, "rows_per_s": rows / total_s, "build_us_per_row": build_s / rows * 1e6,
            "insert_rows_per_s": rows / max(total_s - build_s, 1e-9)}


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return q1, q2, q3


def median_interval(values: list[float], level: float = 0.9, draws: int = 2000) -> tuple[float, float]:
    """A bootstrap interval of the median (rounds drawn with replacement; seeded, so a run's figures repeat)."""
    rng = random.Random(0)
    medians_ = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    tail = int(draws * (1 - level) / 2)
    return medians_[tail], medians_[-tail - 1]


def plot(info: dict) -> None:
    from tagifai.plots import new_figure

    fig, ax = new_figure((11, 4.2))
    fig.delaxes(ax)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    compared = [n for n in info["names"] if n in info["ratios"]]
    left.boxplot([[r * 100 for r in info["ratios"][n]] for n in compared], showfliers=False)
    for i, name in enumerate(compared, start=1):
        rounds = [r * 100 for r in info["ratios"][name]]
        left.scatter([i] * len(rounds), rounds, color="black", s=8, alpha=0.5, zorder=3)
        median = statistics.median(rounds)
        left.text(i + 0.25, median, f"{median:.1f}%", va="center", fontsize=8)
    left.set_xticks(range(1, len(compared) + 1), [n.removeprefix("log ") for n in compared])
    left.axhline(TARGET_RATIO * 100, color="#d62728", linestyle="--", linewidth=1, label=f"target {TARGET_RATIO:.0%}")
    left.axhline(100, color="#999999", linewidth=0.8)
    left.set_ylabel("requests/s vs log none, same round (%)")
    left.set_title(f"Each round's ratio, concurrency {CONCURRENCY}, 1 worker")
    left.legend(fontsize=8, loc="lower left")
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
    ratio = {n: quartiles(r) for n, r in info["ratios"].items()}
    info["targets"] = [(f"requests/s with a {n.removeprefix('log ')} log / with none (median of the rounds' ratios)",
                        f">= {TARGET_RATIO:.0%}", f"{ratio[n][1]:.1%}", ratio[n][1] >= TARGET_RATIO)
                       for n in names if n not in (OFF, CONTROL)]
    noise = f"{ratio[CONTROL][1]:.1%} (quartiles {ratio[CONTROL][0]:.0%} - {ratio[CONTROL][2]:.0%})" \
        if CONTROL in ratio else "not measured"
    lines = [
        SECTION, "",
        f"Regenerated by `make bench-monitor-log` (benchmarks/bench_inference_log.py) on {info['date']} in "
        f"{info['wall_s'] / 60:.1f} min. **Machine:** {m['cpus']} CPUs ({m['cpu_model']}), shared; load average at "
        f"start / end {info['load_start']} / {info['load_end']}.",
        "",
        f"**Method.** One-row requests (real project texts, each request a different one), concurrency "
        f"{CONCURRENCY} keep-alive connections in a closed loop, {info['duration']:g} s per cell, to servers that all "
        "run at once, 1 worker each, default settings (micro-batching on) but for `--inference-log`. The servers take "
        f"turns, {info['rounds']} rounds in alternating order, each cell after {info['settle_s']:g} s without load "
        "(so no server's last flush falls into the next one's cell). The target is judged on each round's ratio (a "
        "log's requests/s over the log-off server's in the same round), whose median is robust to the shared "
        "machine's drift between rounds. A second log-off server, the **control**, measures that noise: identical "
        f"to the first, its ratio was {noise}. The median's interval is a bootstrap over the rounds: how far the "
        "median of another run of this length may fall. Every answer is checked against the sklearn pipeline; after "
        "the load each log's counters are read (written + dropped = scored).",
        "",
        "| Target | Required | Measured | |", "|---|---|---|---|",
        *[f"| {name} | {req} | {got} | {'met' if ok else '**missed**'} |" for name, req, got, ok in info["targets"]],
        "",
        "| Server | req/s (median of rounds) | ratio to none: median (quartiles) | the median's 90% interval | "
        "p50 ms | p99 ms | server CPU µs/request | errors | rows written / dropped / scored |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        row, counts = t[name], info["counts"].get(name)
        logged = f"{counts['written']:,.0f} / {counts['dropped']:,.0f} / {counts['scored']:,.0f}" if counts else "-"
        spread = f"{ratio[name][1]:.1%} ({ratio[name][0]:.0%} - {ratio[name][2]:.0%})" if name in ratio else "-"
        interval = "{:.1%} - {:.1%}".format(*median_interval(info["ratios"][name])) if name in ratio else "-"
        lines.append(f"| {name} | {row['req_per_s']:,.0f} | {spread} | {interval} | {row['p50_ms']:.2f} | "
                     f"{row['p99_ms']:.2f} | {info['cpu_us'][name]:.0f} | {row['errors']} | {logged} |")
    lines += ["", "Every round's figures are in docs/bench_inference_log.json.", "",
              "**Writer throughput** (in-process, one InferenceLog, one-row records queued beforehand; rows built "
              "= hash + text statistics by the model + probabilities as JSON, then inserted "
              f"{info['batch_rows']} rows a transaction):", "",
              "| Database | rows/s end to end | building a row (µs) | insert-only rows/s |", "|---|---|---|---|"]
    for name, w in info["writer"].items():
        lines.append(f"| {name} | {w['rows_per_s']:,.0f} | {w['build_us_per_row']:.1f} | {w['insert_rows_per_s']:,.0f} |")
    lines += ["", f"![Inference log overhead and writer throughput]({PNG.name})", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = load_arguments(__doc__, duration=1.5, rounds=40, max_requests=200000)
    parser.add_argument("--writer-rows", type=int, default=50000, help="rows for the writer's throughput [50000]")
    args = parser.parse_args()
    wall0, load_start = time.perf_counter(), load_average()
    workdir = Path(tempfile.mkdtemp(prefix="bench-inference-log-"))
    from harness.postgres import create_database
    from serving.inference_log import MAX_BATCH_ROWS

    model_uri, _, texts, expected = model_and_texts(args.model_uri, workdir)
    logs, drops = {OFF: "none", CONTROL: "none", "log sqlite": f"sqlite:///{workdir / 'inference.db'}"}, []
    try:
        url, drop = create_database(PG_ADMIN_URL, "tagifai_bench_log", driver="postgresql+psycopg2")
        logs["log postgresql"] = url
        drops.append(drop)
    except Exception as exc:  # noqa: BLE001 - psycopg2.OperationalError: no PostgreSQL here, its figures skipped
        log(f"PostgreSQL not reachable at {PG_ADMIN_URL}, its figures are skipped: {' '.join(str(exc).split())}")
    with servers_up(targets(model_uri, logs, workdir), workdir, texts[0], expected[0]) as running:
        cells = run_load(running, texts, expected, args, workdir)
        counts = {t.name: settled_counts(t) for t in running if t.name not in (OFF, CONTROL)}
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
            "batch_rows": MAX_BATCH_ROWS, "settle_s": cells[0]["settle"]}
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
