"""GET /models from the workers' state files: the same answer whichever worker reads them."""

from __future__ import annotations

from serving.status import StatusBoard, summary


def state(version: str, loaded_at: str, **extra) -> dict:
    return {"serving": {"name": "m", "version": version, "alias": "champion", "run_id": "r" + version,
                        "loaded_at": loaded_at}, **extra}


def test_workers_on_two_versions_mid_swap_are_both_listed_newest_first(tmp_path):
    StatusBoard(tmp_path, 0).publish(state("1", "2026-01-01T00:00:00Z"))
    StatusBoard(tmp_path, 1).publish(state("2", "2026-01-01T00:05:00Z", last_reload={
        "version": "2", "status": "ok", "reason": None, "at": "2026-01-01T00:05:00Z"}))
    answers = [summary(StatusBoard(tmp_path, w).read_all(), {"follows": "champion"}) for w in (0, 1)]
    assert answers[0] == answers[1]
    models = answers[0]
    assert [(m["version"], m["workers"]) for m in models["models"]] == [("2", 1), ("1", 1)]
    assert models["last_reload"]["version"] == "2" and models["follows"] == "champion"
    assert [w["version"] for w in models["workers"]] == ["1", "2"]


def test_the_earliest_outage_any_worker_saw_is_reported(tmp_path):
    for worker, since in ((0, "2026-01-01T00:02:00Z"), (1, "2026-01-01T00:01:00Z")):
        StatusBoard(tmp_path, worker).publish(state("1", "2026-01-01T00:00:00Z", registry={
            "reachable": False, "since": since, "error": "connection refused"}))
    registry = summary(StatusBoard(tmp_path, 0).read_all(), {})["registry"]
    assert registry == {"reachable": False, "since": "2026-01-01T00:01:00Z", "error": "connection refused"}


def test_a_replaced_worker_overwrites_its_slot(tmp_path):
    StatusBoard(tmp_path, 0).publish(state("1", "2026-01-01T00:00:00Z"))
    StatusBoard(tmp_path, 0).publish(state("2", "2026-01-01T00:03:00Z"))
    assert [m["version"] for m in summary(StatusBoard(tmp_path, 0).read_all(), {})["models"]] == ["2"]
