"""The figures of docs/calibration.md: the shipped configuration with `calibration` none and temperature,
cross-validated on the same folds as a training run, then fitted once and scored on the test split; and what
Predictor.text_stats (the inference log's per-row text stats) costs per row. Nothing is logged to MLflow.

    python scripts/calibration_report.py [--args-file config/args.json] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from tagifai import config
from tagifai.args import TrainArgs
from tagifai.calibration import MAX_CV_ECE, expected_calibration_error
from tagifai.crossval import N_REPEATS, N_SPLITS, cross_validate
from tagifai.data import load_projects
from tagifai.train import fit
from tracking.quality import CV_SEED_OFFSET

STATS_ROWS = 5000


def measure(df, args: TrainArgs, repeats: int) -> dict[str, float]:
    """CV (the training run's fold seed) and the test split of one fit, for one configuration."""
    cv = cross_validate(df, args, N_SPLITS, repeats, seed=args.seed + CV_SEED_OFFSET)
    search_cv = cross_validate(df, args, N_SPLITS, repeats)  # the search's folds (seed = args.seed)
    result = fit(df, args)
    test = result.splits.test
    proba = result.predictor.pipeline.predict_proba(test["clean"])
    classes = result.predictor.classes
    accuracy = float((classes[proba.argmax(axis=1)] == test["label"].to_numpy()).mean())
    confidence = float(proba.max(axis=1).mean())
    return {"cv_f1_mean": cv.mean, "cv_f1_std": cv.std, "cv_ece": cv.ece, "search_cv_ece": search_cv.ece,
            "test_f1": result.performance["overall"]["f1"], "test_accuracy": accuracy,
            "test_confidence": confidence, "estimate_minus_accuracy": confidence - accuracy,
            "test_ece": expected_calibration_error(test["label"], proba, classes),
            "temperature": result.predictor.temperature, "predictor": result.predictor, "test_rows": len(test)}


def text_stats_cost(predictor, texts: list[str]) -> tuple[float, float, float]:
    """Microseconds per row: first call (vocabulary derived), then warm at batch 1 and at batch 1000."""
    started = time.perf_counter()
    predictor.text_stats(texts[:1])
    first = time.perf_counter() - started
    started = time.perf_counter()
    for text in texts[:1000]:
        predictor.text_stats([text])
    single = (time.perf_counter() - started) / 1000
    started = time.perf_counter()
    for i in range(0, len(texts), 1000):
        predictor.text_stats(texts[i:i + 1000])
    batch = (time.perf_counter() - started) / len(texts)
    return first * 1e6, single * 1e6, batch * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--args-file", type=Path, default=config.ARGS_PATH)
    parser.add_argument("--repeats", type=int, default=N_REPEATS)
    options = parser.parse_args()
    df, _ = load_projects(config.DATA_PATH)
    shipped = TrainArgs.from_file(options.args_file)
    rows = {name: measure(df, replace(shipped, calibration=name), options.repeats) for name in ("none", "temperature")}
    print(f"{shipped.describe()}; CV {N_SPLITS}-fold x{options.repeats}, fold seed {shipped.seed + CV_SEED_OFFSET} "
          f"(search folds: seed {shipped.seed}); test split {rows['none']['test_rows']} projects\n")
    print("| calibration | cv_f1 (mean ± std) | cv_ece | cv_ece, search folds | T | test f1 | test accuracy | "
          "test mean confidence | estimate − accuracy | test_ece |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, m in rows.items():
        print(f"| {name} | {m['cv_f1_mean']:.4f} ± {m['cv_f1_std']:.4f} | {m['cv_ece']:.4f} | {m['search_cv_ece']:.4f} "
              f"| {m['temperature']:.3f} | {m['test_f1']:.4f} | {m['test_accuracy']:.4f} | {m['test_confidence']:.4f} "
              f"| {m['estimate_minus_accuracy']:+.4f} | {m['test_ece']:.4f} |")
    print(f"\ncv_ece limit (tagifai.calibration.MAX_CV_ECE): {MAX_CV_ECE}")
    texts = df["text"].sample(STATS_ROWS, replace=True, random_state=0).tolist()
    first, single, batch = text_stats_cost(rows["temperature"]["predictor"], texts)
    print(f"Predictor.text_stats: first call {first:.0f} us (derives the vocabulary), then {single:.1f} us per row "
          f"at batch 1, {batch:.1f} us per row at batch 1000")
    print(f"vocabulary: {len(rows['temperature']['predictor'].vocabulary)} words")


if __name__ == "__main__":
    main()
