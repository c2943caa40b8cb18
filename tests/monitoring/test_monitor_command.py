"""`tagifai monitor` end to end on real logs: a real SQLite file and a real PostgreSQL database filled with
realistic rows through monitoring.schema, a real MLflow tracking store holding the version's reference profile."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow import MlflowClient

from harness.inference_rows import hours_ago, in_distribution, insert_rows, register_profiled_version, shifted, \
    single_class
from monitoring.drift import SIGNALS
from monitoring.run import EXPERIMENT

pytestmark = pytest.mark.slow
JSON_KEYS = {"drift", "signals", "rows", "estimated_accuracy", "model", "version", "role", "window"}


def labels_csv(path, frame: pd.DataFrame, key: str, wrong: int) -> float:
    """A labels file for the frame's rows: the logged tag, except `wrong` rows; the accuracy it implies."""
    tags = frame["predicted_tag"].copy()
    tags.iloc[:wrong] = ["other" if t != "other" else "mlops" for t in tags.iloc[:wrong]]
    column = frame["sent_text"] if key == "text" else frame["request_id"]
    pd.DataFrame({key: column.to_numpy(), "tag": tags.to_numpy()}).to_csv(path, index=False)
    return 1 - wrong / len(frame)


def test_in_distribution_traffic_does_not_drift_and_is_reported_and_logged(served, sqlite_log, profile, tmp_path,
                                                                          monitor_cli):
    window = in_distribution(profile, 300, served.name, served.champion, logged_at=hours_ago(1))
    older = shifted(profile, 200, served.name, served.champion, logged_at=hours_ago(30), seed=1)  # outside 24h
    insert_rows(sqlite_log, [window, older])
    expected = labels_csv(tmp_path / "labels.csv", window.iloc[:100], "request_id", wrong=10)
    report = tmp_path / "out" / "monitor.md"

    done = monitor_cli("--inference-log", sqlite_log, "--model-uri", served.uri(), "--json",
                       "--labels", tmp_path / "labels.csv", "--report", report)

    assert done.code == 0, done.stderr
    out = done.json()
    assert JSON_KEYS | {"measured"} <= set(out)
    assert (out["drift"], out["rows"], out["version"], out["role"]) == (False, 300, served.champion, "champion")
    assert set(out["signals"]) == set(SIGNALS)
    assert all({"statistic", "threshold", "drifted"} <= set(s) and not s["drifted"] for s in out["signals"].values())
    assert out["estimated_accuracy"] == pytest.approx(window["confidence"].mean())
    measured = out["measured"]
    assert (measured["rows"], measured["accuracy"]) == (100, pytest.approx(expected))
    assert 0 < measured["f1"] <= 1 and set(measured["per_class"]) >= set(window["predicted_tag"].iloc[:100])
    pngs = {p.name for p in report.parent.glob("*.png")}
    assert pngs == {"monitor_tag_shares.png", "monitor_confidence.png", "monitor_oov_share.png"}
    assert all(name in report.read_text() for name in pngs)

    run = MlflowClient().get_run(out["run_id"])
    assert MlflowClient().get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.data.params["model_version"] == str(served.champion)
    assert run.data.params["inference_log"] == sqlite_log
    assert run.data.metrics["measured_accuracy"] == pytest.approx(expected)
    assert run.data.metrics["rows"] == 300 and run.data.metrics["drift"] == 0
    assert set(SIGNALS) <= set(run.data.metrics)
    logged = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "report")}
    assert logged == {"report/monitor.md"} | {f"report/{p}" for p in pngs}


def test_shifted_traffic_exits_1_and_the_table_names_the_signals(served, sqlite_log, profile, monitor_cli):
    insert_rows(sqlite_log, [shifted(profile, 150, served.name, served.champion, logged_at=hours_ago(2))])
    done = monitor_cli("--inference-log", sqlite_log, "--model-uri", served.uri())
    assert done.code == 1, done.stderr
    drift_line = next(line for line in done.stdout.splitlines() if line.startswith("drift:"))
    assert {"confidence_ks", "oov_share_ks", "tag_psi"} <= set(drift_line.removeprefix("drift: ").split(", "))
    assert any(line.startswith("confidence_ks") and line.endswith("DRIFT") for line in done.stdout.splitlines())


def test_single_class_traffic_fires_the_tag_signals(served, sqlite_log, profile, monitor_cli):
    insert_rows(sqlite_log, [single_class(profile, 200, served.name, served.champion, logged_at=hours_ago(1))])
    done = monitor_cli("--inference-log", sqlite_log, "--model-uri", served.uri(f"/{served.champion}"), "--json")
    assert done.code == 1, done.stderr
    assert {n for n, s in done.json()["signals"].items() if s["drifted"]} == {"tag_psi", "tag_chi2"}


def test_postgres_log_monitors_champion_and_challenger_apart_and_joins_labels_by_text(served, pg_log, profile,
                                                                                      tmp_path, monitor_cli):
    challenger = register_profiled_version(served.name, profile, alias="challenger")
    champion_rows = in_distribution(profile, 300, served.name, served.champion, logged_at=hours_ago(3))
    insert_rows(pg_log, [champion_rows, shifted(profile, 200, served.name, challenger, role="challenger",
                                                logged_at=hours_ago(3))])
    expected = labels_csv(tmp_path / "labels.csv", champion_rows.iloc[:50], "text", wrong=5)

    champion = monitor_cli("--inference-log", pg_log, "--model-uri", served.uri(), "--json",
                           "--labels", tmp_path / "labels.csv")
    rival = monitor_cli("--inference-log", pg_log, "--model-uri", served.uri("@challenger"), "--json")

    assert champion.code == 0, champion.stderr
    assert (champion.json()["rows"], champion.json()["measured"]["key"]) == (300, "text")
    assert champion.json()["measured"]["accuracy"] == pytest.approx(expected)
    assert rival.code == 1, rival.stderr
    assert (rival.json()["rows"], rival.json()["version"], rival.json()["role"]) == (200, challenger, "challenger")


def test_prune_deletes_only_the_old_rows(served, sqlite_log, profile, monitor_cli):
    insert_rows(sqlite_log, [in_distribution(profile, 120, served.name, served.champion, logged_at=hours_ago(24 * 40)),
                             in_distribution(profile, 80, served.name, served.champion, logged_at=hours_ago(1))])
    done = monitor_cli("--inference-log", sqlite_log, "--prune-older-than", "30d")
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("deleted 120 rows older than 30d")
    after = monitor_cli("--inference-log", sqlite_log, "--model-uri", served.uri(), "--since", "365d", "--json")
    assert after.json()["rows"] == 80
