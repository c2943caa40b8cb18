"""The inference log's parts in-process, fast: URIs refused at start naming the option, settings checked, the
live window's limits, the writer against a real SQLite file (queue full: dropped and counted without waiting;
what is queued is written at close), and the Grafana dashboard naming only metrics the server exposes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from serving import metrics
from serving.errors import InvalidSettingError, ServeError
from serving.inference_log import InferenceLog
from serving.log_database import open_engine
from serving.live_window import WINDOW_ROWS, WINDOW_SECONDS, Series
from serving.served import ModelIdentity, ServedVersion
from serving.settings import ServeSettings
from monitoring.schema import text_hash
from tagifai.profile import text_stats

from harness.ports import returns_within
from inference_log_reading import log_rows

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "tagifai-monitoring.json"


@pytest.mark.parametrize("uri, says", [
    ("mysql://user@127.0.0.1/log", "only sqlite and postgresql"),
    ("sqlite:////no/such/folder/log.db", "does not exist"),
    ("sqlite://", "in-memory"),
    ("a log please", "not a database URL"),
])
def test_a_uri_that_can_never_work_is_refused_naming_the_option(uri, says):
    with pytest.raises(ServeError, match="--inference-log") as refused:
        open_engine(uri)
    assert says in str(refused.value)


@pytest.mark.parametrize("field, value, says", [("inference_log_queue", 0, "inference_log_queue must be > 0"),
                                                 ("inference_log_retention", "soon", "inference_log_retention must")])
def test_bad_log_settings_are_refused_naming_the_field(field, value, says):
    with pytest.raises(InvalidSettingError, match=says):
        ServeSettings(**{field: value})


def test_the_live_window_keeps_the_last_rows_of_the_last_minutes():
    series = Series({"model_name": "window-test", "model_version": "1", "role": "champion"})
    now = time.time()
    series.add(now - WINDOW_SECONDS - 1, "mlops", 0.5, None)  # too old once expired
    for i in range(WINDOW_ROWS + 10):
        series.add(now, "other" if i % 2 else "mlops", 0.9, 0.25)
    assert len(series.rows) == WINDOW_ROWS and series.tags == {"mlops": WINDOW_ROWS // 2, "other": WINDOW_ROWS // 2}
    assert series.confidence == pytest.approx(0.9 * WINDOW_ROWS) and series.oov_rows == WINDOW_ROWS
    series.expire(now + WINDOW_SECONDS + 1)
    assert len(series.rows) == 0 and series.confidence == 0 and series.oov == 0 and series.oov_rows == 0


def served(version: str) -> ServedVersion:
    scorer = SimpleNamespace(text_stats=lambda texts: [text_stats(t, t, None) for t in texts])
    return ServedVersion(ModelIdentity("log-parts-test", version), scorer)


def answer(tag: str) -> list[dict]:
    return [{"predicted_tag": tag, "confidence": 0.8, "probabilities": {tag: 0.8, "other": 0.2}}]


def sample(name: str, version: str) -> float:
    labels = {"model_name": "log-parts-test", "model_version": version, "role": "champion"}
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_full_queue_drops_and_counts_without_waiting_and_close_writes_the_rest(tmp_path):
    log = InferenceLog(f"sqlite:///{tmp_path / 'log.db'}", queue_size=2)
    version = served("7")

    def five_adds():  # not started yet: nothing takes from the queue, so an add that waited for room never returns
        for i in range(5):
            log.add(version, [f"text {i}"], answer("mlops"), f"r{i}", 0.001)

    returns_within(five_adds, 10, "five adds to a full queue with no writer")
    assert sample("tagifai_inference_log_dropped_total", "7") == 3
    log.start()
    log.close()
    rows = log_rows(f"sqlite:///{tmp_path / 'log.db'}")
    assert [(r["request_id"], r["model_version"], r["text"]) for r in rows] == [("r0", 7, None), ("r1", 7, None)]
    assert sample("tagifai_inference_log_written_total", "7") == 2


@pytest.mark.parametrize("requests", [1, 3, 1024, 1500, 2000])
def test_a_batch_of_any_size_is_written_whole_and_in_order(tmp_path, requests):
    """SQLite takes a batch in statements of a power of two rows each: none is lost, doubled or reordered."""
    log = InferenceLog(f"sqlite:///{tmp_path / 'log.db'}", queue_size=requests)
    version = served("9")
    for i in range(requests):
        log.add(version, [f"text {i % 7}"], answer(("mlops", "other")[i % 2]), f"r{i}", 0.001)
    log.start()
    log.close()
    rows = log_rows(f"sqlite:///{tmp_path / 'log.db'}")
    assert [r["request_id"] for r in rows] == [f"r{i}" for i in range(requests)]
    # The same text answered differently (text i % 7, tag i % 2): each row has its own answer, not a remembered one.
    assert [r["predicted_tag"] for r in rows] == [("mlops", "other")[i % 2] for i in range(requests)]
    assert rows[-1]["text_hash"] == text_hash(f"text {(requests - 1) % 7}")


def test_one_text_twice_in_a_request_keeps_each_of_its_answers(tmp_path):
    log = InferenceLog(f"sqlite:///{tmp_path / 'log.db'}")
    version = served("10")
    answers = [{"predicted_tag": "mlops", "confidence": 0.8, "probabilities": {"mlops": 0.8, "other": 0.2}},
               {"predicted_tag": "other", "confidence": 0.6, "probabilities": {"mlops": 0.4, "other": 0.6}}]
    log.add(version, ["same text"], answers[:1], "once", 0.001)  # the writer now knows the text
    log.add(version, ["same text", "same text"], answers, "twice", 0.001)
    log.start()
    log.close()
    rows = log_rows(f"sqlite:///{tmp_path / 'log.db'}")
    assert [(r["predicted_tag"], r["confidence"], json.loads(r["probabilities"])) for r in rows] == [
        (a["predicted_tag"], a["confidence"], a["probabilities"]) for a in answers[:1] + answers]
    assert log.window.series[tuple(version.labels.values())].tags == {"mlops": 2, "other": 1}


@pytest.mark.slow  # a PostgreSQL database made and dropped
def test_texts_of_any_characters_round_trip_through_postgresql_copy(pg_log):
    text = 'tab\there, new\nline, back\\slash \\N, "quotes", ünïcödé, emoji \U0001F600'
    log = InferenceLog(pg_log[0], log_inputs=True)
    log.add(served("8"), [text], answer("mlops"), "copy", 0.001)
    log.start()
    log.close()
    log.engine.dispose()
    [row] = log_rows(pg_log[0])
    assert row["text"] == text and row["text_hash"] == text_hash(text) and row["oov_share"] is None
    assert json.loads(row["probabilities"]) == {"mlops": 0.8, "other": 0.2}


def exposed_sample_names() -> set[str]:
    """Every sample name the server's metrics can have (counters' _total, histograms' _bucket/_sum/_count)."""
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("tagifai_"):
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
            names.update(family.name + s for s in suffixes[family.type])
    return names


def test_the_dashboard_names_only_metrics_the_server_exposes():
    assert metrics.LIVE_ROWS is not None  # serving.metrics registered
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\btagifai_\w+", e)}
    used |= set(re.findall(r"\btagifai_\w+", json.dumps(dashboard["templating"])))
    assert used and used <= exposed_sample_names(), used - exposed_sample_names()
    assert {"datasource"} <= {v["name"] for v in dashboard["templating"]["list"]}
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for shown in ("tag share", "confidence", "oov", "logged", "dropped", "latency"):
        assert shown in titles
