"""`tagifai monitor` on 1,000,000 logged rows in PostgreSQL (`make bench-monitor-query`): the whole command as a
user runs it (a subprocess: start-up, registry, window query, signals, report, MLflow run), without and with
--labels; and the false-alarm rates of the default thresholds on windows drawn from the reference itself.

Self-contained: a throw-away tracking store (SQLite, in a temporary folder) holding a version with the harness's
example reference profile, a throw-away PostgreSQL database filled with COPY from harness.inference_rows.
Writes docs/bench_monitor.json; docs/monitoring.md quotes it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.inference_rows import (  # noqa: E402
    example_profile, hours_ago, in_distribution, reference_sample, register_profiled_version, shifted,
)
from harness.postgres import connect, create_database  # noqa: E402
from monitoring import schema  # noqa: E402
from monitoring.drift import SIGNALS, Thresholds, detect  # noqa: E402

BIN = Path(sys.executable).parent
MODEL = "tagifai-bench-monitor"
FILL_CHUNK = 100_000
COLUMNS = [c.name for c in schema.inference_log.columns if c.name != "id"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=10_000, help="Rows of the --labels file.")
    parser.add_argument("--repeat", type=int, default=2, help="Timed runs of each command.")
    parser.add_argument("--draws", type=int, default=1000, help="Windows per size in the false-alarm check.")
    parser.add_argument("--postgres", default=os.environ.get("TAGIFAI_BENCH_PG_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="Admin URL of the PostgreSQL server.")
    parser.add_argument("--profile", type=Path, help="A training run's reference_profile.json (mlflow artifacts "
                        "download) instead of the harness's example profile.")
    parser.add_argument("--false-alarms-only", action="store_true", help="Skip the 1,000,000-row PostgreSQL part.")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "bench_monitor.json")
    return parser.parse_args()


def fill(url: str, profile: dict, version: int, rows: int) -> tuple[float, list[str]]:
    """`rows` in-window champion rows by COPY; (seconds, the request ids of the first chunk, for labels)."""
    eng = schema.engine(url)
    schema.ensure_table(eng)
    eng.dispose()
    connection = connect(url)
    started, first_ids = time.perf_counter(), []
    with connection.cursor() as cursor:
        for start in range(0, rows, FILL_CHUNK):
            frame = in_distribution(profile, min(FILL_CHUNK, rows - start), MODEL, version,
                                    logged_at=hours_ago(start / rows * 20), seed=start)
            first_ids = first_ids or frame["request_id"].tolist()
            buffer = io.StringIO()
            frame[COLUMNS].to_csv(buffer, index=False, header=False)
            buffer.seek(0)
            cursor.copy_expert(f"COPY {schema.TABLE} ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buffer)
            print(f"  filled {start + len(frame):,} / {rows:,} rows ({time.perf_counter() - started:.0f} s)",
                  flush=True)
        cursor.execute(f"ANALYZE {schema.TABLE}")
    connection.close()
    return time.perf_counter() - started, first_ids


def time_command(args: list[str], env: dict, cwd: Path, repeat: int) -> dict:
    seconds, code = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run([str(BIN / "tagifai"), "monitor", *args], capture_output=True, text=True, env=env,
                              cwd=cwd)
        seconds.append(round(time.perf_counter() - started, 2))
        code = done.returncode
        if code not in (0, 1):
            raise SystemExit(f"tagifai monitor failed ({code}): {done.stderr[-2000:]}")
    out = json.loads(done.stdout)
    print(f"  {' '.join(a for a in args if a.startswith('--'))}: {seconds} s, exit {code}, rows {out['rows']:,}")
    return {"seconds": seconds, "best_s": min(seconds), "exit_code": code, "rows": out["rows"],
            "measured_rows": (out.get("measured") or {}).get("rows")}


def false_alarms(profile: dict, draws: int) -> dict:
    """Share of windows of n rows drawn from the reference that fire any signal (and each), default thresholds;
    the 99th percentile of each statistic tells how far the thresholds sit above the noise."""
    results = {}
    for n in (30, 115, 300, 1000):
        rng = np.random.default_rng(n)
        fired, values = Counter(), {name: [] for name in SIGNALS}
        any_fired = 0
        for _ in range(draws):
            signals = detect(*reference_sample(profile, n, rng), profile, Thresholds())
            any_fired += any(s.drifted for s in signals)
            for s in signals:
                fired[s.name] += s.drifted
                values[s.name].append(s.statistic)
        results[str(n)] = {"any": any_fired / draws, "per_signal": {k: fired[k] / draws for k in SIGNALS},
                           "p99_statistic": {k: round(float(np.percentile(v, 99)), 4) for k, v in values.items()}}
        print(f"  n={n}: any signal fired in {any_fired / draws:.1%} of {draws} windows")
    shifted_n = {}
    for n in (30, 115):
        frame = shifted(profile, n, MODEL, 1)
        signals = detect(Counter(frame["predicted_tag"]), frame["confidence"].to_numpy(),
                         frame["text_chars"].to_numpy(), frame["oov_share"].to_numpy(), profile, Thresholds())
        shifted_n[str(n)] = sorted(s.name for s in signals if s.drifted)
    return {"draws": draws, "thresholds": Thresholds().to_dict(), "reference": results,
            "shifted_traffic_fires": shifted_n}


def main() -> int:
    args = parse_args()
    profile = json.loads(args.profile.read_text()) if args.profile else example_profile()
    print(f"false alarms on windows drawn from the reference ({profile['source']}, {profile['rows']} rows):")
    report = {"reference": profile["source"], "false_alarms": false_alarms(profile, args.draws)}
    if args.false_alarms_only:
        print(json.dumps(report["false_alarms"]["reference"], indent=1))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
        os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
        version = register_profiled_version(MODEL, profile, experiment="bench-monitor")
        url, drop = create_database(args.postgres, "tagifai_bench_monitor")  # the plain URL users type
        try:
            print(f"filling {args.rows:,} rows into PostgreSQL:")
            fill_s, ids = fill(url, profile, version, args.rows)
            labels = folder / "labels.csv"
            labels.write_text("request_id,tag\n" + "".join(f"{i},mlops\n" for i in ids[: args.labels]))
            base = ["--inference-log", url, "--model-uri", f"models:/{MODEL}@champion", "--json",
                    "--report", str(folder / "report" / "monitor.md")]
            print("timing tagifai monitor (whole command, subprocess):")
            report["postgres"] = {
                "rows": args.rows, "fill_s": round(fill_s, 1), "fill": "COPY in chunks of 100,000",
                "monitor": time_command(base, env, folder, args.repeat),
                "monitor_with_labels": {**time_command([*base, "--labels", str(labels)], env, folder, args.repeat),
                                        "label_rows": min(args.labels, len(ids))},
                "target_s": 60,
            }
        finally:
            drop()
    report["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
