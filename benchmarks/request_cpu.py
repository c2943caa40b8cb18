"""Where a one-row request's server CPU goes: the servers of `make bench-batching` (1 worker each) one at a time
under one-row requests at a given concurrency, and each server thread's CPU (from /proc) per request answered.

The event-loop thread (the process's first) does HTTP, routing, middleware, parsing, validation and answering; the
other threads run predict (batched or not). No profiler is attached, so the figures are the real costs; with
--rounds > 1 the servers take turns, and each figure is the median over the rounds.

    .venv/bin/python benchmarks/request_cpu.py --model-uri models:/... [--concurrency 32] [--duration 6]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_batching import FASTAPI, HEADLINE, OFF, targets  # noqa: E402 - the repo is on sys.path
from benchmarks.bench_serving import HOST, log, start, stop, train  # noqa: E402
from harness.reference import reference_predictions  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[int, float]:
    """thread id -> user + system CPU seconds."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def measure(target, texts, expected, concurrency: int, duration: float, workdir: Path) -> dict:
    cell = {"target": target.name, "batch": 1, "concurrency": concurrency, "duration": duration,
            "max_requests": 10**7, "warmup": 5}
    spec = {"host": HOST, "client": "raw", "texts": texts, "expected": expected, "cells": [cell],
            "targets": {target.name: {"port": target.port, "path": target.path, "format": target.fmt}}}
    spec_path, result_path = workdir / "spec.json", workdir / "result.json"
    spec_path.write_text(json.dumps(spec))
    pid = target.process.pid  # 1 worker: the server is this process
    before = thread_cpu(pid)
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "loadgen.py"), str(spec_path), str(result_path)],
                   check=True, timeout=duration + 120)
    after = thread_cpu(pid)
    result = json.loads(result_path.read_text())[0]
    answered = result["requests"] + cell["warmup"] * concurrency  # the CPU window includes the warm-up
    loop = (after.get(pid, 0) - before.get(pid, 0)) / answered * 1e6
    total = sum(after[t] - before.get(t, 0) for t in after) / answered * 1e6
    return {"req_per_s": result["req_per_s"], "loop_us": loop, "other_us": total - loop, "total_us": total,
            "errors": result["errors"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-uri", help="serve this model instead of training one")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import joblib
    import mlflow

    from tagifai import config
    from tagifai.data import load_projects

    workdir = Path(tempfile.mkdtemp(prefix="request-cpu-"))
    model_uri = args.model_uri or train(workdir)
    local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(workdir / "model")))
    predictor_path = next(local.rglob("predictor.joblib"))
    texts = load_projects(config.DATA_PATH)[0]["text"].tolist()
    expected = reference_predictions(joblib.load(predictor_path), texts)
    chosen = [t for t in targets(model_uri, predictor_path) if t.name in (OFF, HEADLINE, FASTAPI)]
    runs: dict[str, list[dict]] = {t.name: [] for t in chosen}
    try:
        for target in chosen:
            start(target, workdir, texts[0], expected[0])
        for rnd in range(args.rounds):
            for target in chosen if rnd % 2 == 0 else chosen[::-1]:
                runs[target.name].append(measure(target, texts, expected, args.concurrency, args.duration, workdir))
                log(f"{target.name} round {rnd}: {runs[target.name][-1]}")
    finally:
        for target in chosen:
            stop(target)
    print(f"\nconcurrency {args.concurrency}, one-row requests, 1 worker; CPU per request answered "
          f"(median of {args.rounds} rounds)")
    print(f"{'server':<20} {'req/s':>7} {'event loop us':>14} {'other threads us':>17} {'total us':>9} errors")
    for name, group in runs.items():
        med = {key: statistics.median(r[key] for r in group) for key in group[0]}
        print(f"{name:<20} {med['req_per_s']:>7,.0f} {med['loop_us']:>14,.0f} {med['other_us']:>17,.0f} "
              f"{med['total_us']:>9,.0f} {sum(r['errors'] for r in group)}")


if __name__ == "__main__":
    main()
