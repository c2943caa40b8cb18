"""GET /predictions in-process, on a real SQLite store (milliseconds): the rules a client sees, and that "current"
is asked per request (a swap moves it). The routes over real HTTP, PostgreSQL and a store that goes down:
test_prediction_server.py."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from batch import store
from serving.errors import handle_error
from serving.predictions import add_prediction_routes, prediction_reader
from tagifai.errors import TagifaiError

T1 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def app_and_state(tmp_path_factory):
    """A store with ids 1..5 from version 1 and ids 1..2 from version 2 of 'tagifai'; the app serves the version
    in `state` (a swap changes it)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('routes') / 'p.db'}"
    eng = store.engine(url)
    with store.Publication(eng, "run") as publication:
        rows = [{"id": str(i), "model_name": "tagifai", "model_version": 1, "predicted_tag": "mlops",
                 "confidence": 0.9, "scored_at": T1} for i in range(1, 6)]
        rows += [{"id": str(i), "model_name": "tagifai", "model_version": 2, "predicted_tag": "computer-vision",
                  "confidence": 0.8, "scored_at": T1} for i in (1, 2)]
        publication.load(rows)
        publication.publish()
    eng.dispose()
    state = {"version": "1"}
    app = FastAPI()
    for error in (TagifaiError, Exception):
        app.add_exception_handler(error, handle_error)
    add_prediction_routes(app, prediction_reader(url), lambda: ("tagifai", state["version"]))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, state


@pytest.fixture
def served(app_and_state):
    client, state = app_and_state
    state["version"] = "1"
    client.state = state
    return client


def test_one_prediction_of_the_served_version(served):
    got = served.get("/predictions/3")
    assert got.status_code == 200
    assert got.json() == {"id": "3", "predicted_tag": "mlops", "confidence": 0.9, "model_name": "tagifai",
                          "model_version": 1, "scored_at": "2026-03-01T12:00:00Z", "stale": False,
                          "current_version": 1}
    assert served.get("/predictions/%203%20").json()["id"] == "3"  # ids are trimmed, as the job trims them


def test_a_missing_id_is_a_404_naming_it(served):
    got = served.get("/predictions/404")
    assert got.status_code == 404 and got.json()["error_code"] == "PREDICTION_NOT_FOUND"
    assert "'404'" in got.json()["message"]


def test_after_a_swap_the_old_versions_prediction_is_stale_unless_asked(served):
    served.state["version"] = "2"
    assert served.get("/predictions/1").json()["predicted_tag"] == "computer-vision"
    refused = served.get("/predictions/3")
    assert refused.status_code == 404 and refused.json()["error_code"] == "PREDICTION_STALE"
    assert "version 1" in refused.json()["message"] and "allow_stale=true" in refused.json()["message"]
    allowed = served.get("/predictions/3?allow_stale=true").json()
    assert allowed["stale"] is True and allowed["model_version"] == 1 and allowed["current_version"] == 2


def test_many_at_once_in_order_with_the_missing_and_stale_listed(served):
    served.state["version"] = "2"
    got = served.get("/predictions?ids=2,9,1,3").json()
    assert [p["id"] for p in got["predictions"]] == ["2", "1"]
    assert got["missing"] == ["9"] and got["stale_only"] == ["3"]
    allowed = served.get("/predictions?ids=2,9,1,3&allow_stale=1").json()
    assert [(p["id"], p["stale"]) for p in allowed["predictions"]] == [("2", False), ("1", False), ("3", True)]


@pytest.mark.parametrize(("query", "status", "words"), [
    ("/predictions", 400, "'ids' is required"),
    ("/predictions?ids=1,,2", 400, "item 2"),
    ("/predictions?ids=" + ",".join(map(str, range(1001))), 413, "limit is 1000"),
    ("/predictions/1?allow_stale=maybe", 400, "'allow_stale' must be true or false"),
    ("/predictions/%20", 400, "must not be blank"),
])
def test_bad_queries_name_the_parameter_and_rule(served, query, status, words):
    got = served.get(query)
    assert got.status_code == status and words in got.json()["message"], got.text


def test_without_a_store_the_routes_say_how_to_configure_one():
    app = FastAPI()
    app.add_exception_handler(TagifaiError, handle_error)
    add_prediction_routes(app, None, lambda: ("tagifai", "1"))
    got = TestClient(app).get("/predictions/1")
    assert got.status_code == 404 and got.json()["error_code"] == "NO_PREDICTION_STORE"
    assert "--prediction-store" in got.json()["message"]


def test_answers_and_examples_satisfy_the_contract(served):
    from pathlib import Path

    import jsonschema
    import yaml

    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())

    def check(name, value):
        jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                         "components": spec["components"]}).validate(value)

    check("StoredPrediction", served.get("/predictions/1").json())
    check("PredictionBatch", served.get("/predictions?ids=1,9&allow_stale=true").json())
    check("Error", served.get("/predictions/9").json())
    for path, name in (("/predictions/{id}", "StoredPrediction"), ("/predictions", "PredictionBatch")):
        check(name, spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["example"])


def test_a_store_url_that_can_never_work_fails_at_start():
    from batch.errors import StoreError

    with pytest.raises(StoreError, match="is not usable"):
        prediction_reader("mysql://user@127.0.0.1/preds")
    with pytest.raises(StoreError, match="is not usable"):
        prediction_reader("not a url")


def test_a_store_that_is_not_there_yet_is_a_503_then_answers_once_written(tmp_path):
    url = f"sqlite:///{tmp_path / 'later.db'}"
    app = FastAPI()
    app.add_exception_handler(TagifaiError, handle_error)
    add_prediction_routes(app, prediction_reader(url), lambda: ("tagifai", "1"))
    client = TestClient(app)
    down = client.get("/predictions/1")
    assert down.status_code == 503 and down.json()["error_code"] == "STORE_UNAVAILABLE"
    assert str(tmp_path) not in down.text and not (tmp_path / "later.db").exists()  # nothing created, no path shown
    eng = store.engine(url)
    with store.Publication(eng, "run") as publication:
        publication.load([{"id": "1", "model_name": "tagifai", "model_version": 1, "predicted_tag": "mlops",
                           "confidence": 0.5, "scored_at": T1}])
        publication.publish()
    eng.dispose()
    assert client.get("/predictions/1").json()["predicted_tag"] == "mlops"
