"""The monitoring loop end to end on the session's real trained champion: `tagifai serve` logs what it scores
into a real SQLite or PostgreSQL inference log, then the real `tagifai monitor` command compares that window with
the training run's reference profile. The repo's held-out projects (its test split) are not drift, and the
accuracy estimate lands within 0.03 of the accuracy their labels measure (joined by request id and by text);
texts about cooking, sports and finance, and traffic of a single class, are flagged, naming the signals."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from harness.inference_rows import shifted_texts
from tagifai import config
from tagifai.data import load_projects
from tagifai.split import split_data
from tagifai.train import prepare

from inference_log_reading import wait_rows

pytestmark = pytest.mark.slow

ROWS_PER_REQUEST = 5
MAX_ESTIMATE_GAP = 0.03  # the bound on |estimated - measured accuracy| for in-distribution traffic


@pytest.fixture(scope="module")
def held_out(default_args) -> list[tuple[str, str]]:
    """(text, label) of the repo's test split for the shipped arguments: projects the champion never saw."""
    df, _ = load_projects(config.DATA_PATH)
    prepared, _ = prepare(df, default_args)
    test = split_data(prepared, "label", val_size=default_args.val_size, test_size=default_args.test_size,
                      seed=default_args.seed).test
    return list(zip(test["text"], test["label"]))


@pytest.fixture(scope="module")
def monitor(tracking_uri, serve_helpers, champion_uri):
    """`monitor(log_url, *args)`: the real `tagifai monitor --json` for the champion over the last hour; (exit
    code, parsed JSON or None, stderr)."""
    env = {**serve_helpers.env_without_venv(), "MLFLOW_TRACKING_URI": tracking_uri}

    def run(log_url: str, *args: str) -> tuple[int, dict | None, str]:
        done = subprocess.run([str(serve_helpers.bin_dir / "tagifai"), "monitor", "--inference-log", log_url,
                               "--model-uri", champion_uri, "--since", "1h", "--json", *args],
                              env=env, capture_output=True, text=True, timeout=180)
        parsed = json.loads(done.stdout) if done.stdout.strip().startswith("{") else None
        return done.returncode, parsed, done.stderr

    return run


def send(server, texts: list[str], prefix: str, rows_per_request: int = 1) -> list[tuple[str, str, str]]:
    """Score `texts` in requests of `rows_per_request` rows: (text, request id, predicted tag) per row."""
    answered = []
    for start in range(0, len(texts), rows_per_request):
        chunk, request_id = texts[start:start + rows_per_request], f"{prefix}-{start}"
        response = httpx.post(f"{server.url}/invocations", json={"dataframe_records": [{"text": t} for t in chunk]},
                              headers={"X-Request-ID": request_id}, timeout=30)
        assert response.status_code == 200, response.text
        answered += [(t, request_id, p["predicted_tag"]) for t, p in zip(chunk, response.json()["predictions"])]
    return answered


def write_labels(path: Path, key: str, rows) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow((key, "tag"))
        writer.writerows(rows)
    return path


def drifted(result: dict) -> set[str]:
    return {name for name, signal in result["signals"].items() if signal["drifted"]}


def test_held_out_projects_are_not_drift_and_the_estimate_meets_the_measured_accuracy(
        start_server, champion_uri, held_out, monitor, tmp_path):
    log_url = f"sqlite:///{tmp_path / 'inference.db'}"
    labels = dict(held_out)
    with start_server(champion_uri, args=["--inference-log", log_url]) as server:
        answered = send(server, list(labels), "held-out")  # one project per request: a request id names one row
        wait_rows(log_url, len(labels))
    accuracy = sum(labels[text] == tag for text, _, tag in answered) / len(answered)
    by_text = write_labels(tmp_path / "by_text.csv", "text", held_out)
    by_id = write_labels(tmp_path / "by_id.csv", "request_id", [(rid, labels[text]) for text, rid, _ in answered])

    for labels_file in (by_text, by_id):
        code, result, stderr = monitor(log_url, "--labels", str(labels_file), "--report", str(tmp_path / "r.md"))
        assert code == 0, stderr + json.dumps(result, indent=1)
        assert result["drift"] is False and not drifted(result), result["signals"]
        assert result["rows"] == len(labels)
        assert result["measured"]["accuracy"] == pytest.approx(accuracy)
        assert abs(result["estimated_accuracy"] - accuracy) <= MAX_ESTIMATE_GAP, (result["estimated_accuracy"],
                                                                                 accuracy)
    assert (tmp_path / "r.md").read_text().strip()


def test_texts_about_cooking_sports_and_finance_are_flagged_in_a_postgresql_log(
        start_server, champion_uri, monitor, pg_log):
    log_url, _ = pg_log
    texts = shifted_texts()
    with start_server(champion_uri, args=["--inference-log", log_url]) as server:
        send(server, texts, "shifted", rows_per_request=4)
        wait_rows(log_url, len(texts))
    code, result, stderr = monitor(log_url)
    assert code == 1, stderr + json.dumps(result, indent=1)
    assert result["drift"] is True
    # Their words are everyday English, which the embedding's vocabulary knows better than ML jargon: the OOV share
    # falls. The tags scatter over every class, so only the input and confidence signals are sure to fire.
    assert {"confidence_ks", "text_chars_ks", "oov_share_ks"} <= drifted(result), json.dumps(result, indent=1)


def test_traffic_of_a_single_class_is_flagged_by_the_tag_signals(
        start_server, champion_uri, held_out, monitor, tmp_path):
    log_url = f"sqlite:///{tmp_path / 'inference.db'}"
    vision = [text for text, label in held_out if label == "computer-vision"]
    with start_server(champion_uri, args=["--inference-log", log_url]) as server:
        answered = send(server, vision * 3, "vision", rows_per_request=3)
        wait_rows(log_url, len(answered))
    code, result, stderr = monitor(log_url)
    assert code == 1, stderr + json.dumps(result, indent=1)
    assert {"tag_psi", "tag_chi2"} <= drifted(result), json.dumps(result, indent=1)
