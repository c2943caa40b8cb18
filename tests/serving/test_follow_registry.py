"""A real `tagifai serve` following a real SQLite registry, moved by the real `tagifai promote` and `rollback`:
promotions and rollbacks reach live traffic without a failed request, versions that cannot be served are
refused while the served one goes on, pinned URIs never move, and /args and /performance follow the switch."""

from __future__ import annotations

import time

import httpx
import mlflow
import pytest

from harness.ports import wait_for

from serving_contract import contract
from serving_load import Load
from serving_registry import broken_version, champion_version

pytestmark = pytest.mark.slow

SWITCH_WITHIN_S = 10.0
TEXT = {"inputs": {"text": ["Transfer learning with transformers for text classification."]}}


@pytest.fixture(scope="module")
def following(start_server, registry, serve_helpers):
    """Two workers following `champion` every 2 s (the acceptance setting)."""
    uri = f"models:/{registry['name']}@champion"
    with start_server(uri, args=["--workers", "2", "--poll-interval", "2"], timeout=180) as server:
        wait_for(lambda: len(serve_helpers.ready_workers(server.process.pid, server.log())) == 2, 120,
                 "two workers ready")
        wait_for(lambda: len(server.get("/models").json()["workers"]) == 2, 30, "both workers in /models")
        yield server


def served_versions(server) -> set[str]:
    return {w["version"] for w in server.get("/models").json()["workers"]}


def wait_switched(server, load: Load, version: str, since: float) -> float:
    """Seconds until every worker (in /models) and every answer after that serve `version`."""
    wait_for(lambda: served_versions(server) == {version}, SWITCH_WITHIN_S, f"every worker on version {version}")
    switched = time.monotonic()
    wait_for(lambda: any(t > switched + 0.5 for t, _ in load.versions), 10, "answers after the switch")
    after = {v for t, v in load.versions if t > switched + 0.1}
    assert after == {version}, after
    return switched - since


def test_promotion_and_rollback_reach_live_traffic_with_no_failed_request(following, registry, tagifai_cli):
    before = champion_version(registry)
    other = next(v for v in registry["runs"] if v != before)
    with Load(following.url) as load:
        wait_for(lambda: len(load.ok) > 20, 30, "load running")
        tagifai_cli("promote", "--force", "--model-name", registry["name"], "--run-id", registry["runs"][other])
        started = time.monotonic()  # the alias has moved
        promoted_in = wait_switched(following, load, other, started)
        alpha = float(mlflow.get_run(registry["runs"][other]).data.params["alpha"])
        assert following.get("/args/alpha").json() == {"alpha": alpha}
        tagifai_cli("rollback", "--model-name", registry["name"])
        started = time.monotonic()
        rolled_back_in = wait_switched(following, load, before, started)
    assert load.errors == [], load.errors[:5]
    assert promoted_in < SWITCH_WITHIN_S and rolled_back_in < SWITCH_WITHIN_S
    models = following.get("/models").json()
    contract("Models").validate(models)
    assert models["last_reload"]["status"] == "ok" and models["last_reload"]["version"] == before
    assert models["models"][0]["run_id"] == registry["runs"][before] and models["models"][0]["workers"] == 2


def test_models_is_the_same_answer_from_every_worker(following):
    answers = set()
    for _ in range(8):  # a new connection each time: the kernel spreads them over both workers
        response = httpx.get(following.url + "/models", headers={"Connection": "close"}, timeout=30)
        answers.add(response.text)
    assert len(answers) == 1, answers


def test_args_and_performance_describe_the_served_version(following, registry):
    version = following.get("/readyz").json()["model_version"]
    run_id = registry["runs"][version]
    response = following.get("/args")
    assert response.headers["x-model-version"] == version
    params = mlflow.get_run(run_id).data.params
    args = response.json()["args"]
    assert args.keys() == params.keys()
    assert type(args["seed"]) is int and type(args["lower"]) is bool and type(args["alpha"]) is float
    performance = mlflow.artifacts.load_dict(f"runs:/{run_id}/performance.json")
    assert following.get("/performance?filter=overall").json() == {"performance": performance["overall"]}
    assert following.get("/performance").json() == {"performance": performance}


@pytest.mark.parametrize(("how", "reason"), [("truncated predictor", "broken or incomplete"),
                                             ("requirements of another environment", "scikit-learn"),
                                             ("a warm-up that raises", "cannot predict")])
def test_a_version_that_cannot_be_served_is_refused_and_the_served_one_keeps_answering(
        following, registry, tmp_path, how, reason):
    served = champion_version(registry)
    bad = broken_version(registry, tmp_path, how)
    registry["client"].set_registered_model_alias(registry["name"], "champion", bad)
    try:
        with Load(following.url) as load:
            wait_for(lambda: (following.get("/models").json()["last_reload"] or {}).get("version") == bad, 30,
                     f"version {bad} tried")
            time.sleep(4.5)  # two more polls: it must not be tried again in a loop
        last = following.get("/models").json()["last_reload"]
        assert last["status"] == "failed" and reason in last["reason"], last
        assert served_versions(following) == {served}
        assert load.errors == [] and {v for _, v in load.versions} == {served}
        refusals = [line for line in following.log().splitlines() if f"refused {registry['name']} version {bad}" in line]
        assert len(refusals) == 2 and all(reason in line for line in refusals), refusals  # one per worker
        metrics = following.get("/metrics").text
        assert f'result="failed"' in metrics and f'model_version="{bad}"' in metrics
    finally:
        registry["client"].set_registered_model_alias(registry["name"], "champion", served)


@pytest.fixture(scope="module")
def pinned(start_server, registry, tmp_path_factory):
    """A numbered URI, and the alias with --poll-interval 0; the second also requires bearer tokens."""
    tokens = tmp_path_factory.mktemp("tokens") / "tokens.txt"
    tokens.write_text("# who may call\nbackend:0123456789abcdef-backend\nfedcba9876543210-anonymous\n")
    with start_server(f"models:/{registry['name']}/1") as numbered, \
            start_server(f"models:/{registry['name']}@champion",
                         args=["--poll-interval", "0", "--auth-token-file", str(tokens)]) as alias:
        yield {"numbered": numbered, "alias": alias}


BACKEND = {"Authorization": "Bearer 0123456789abcdef-backend"}


def test_a_numbered_uri_and_poll_interval_zero_never_move(pinned, registry):
    served = champion_version(registry)
    other = next(v for v in registry["runs"] if v != served)
    registry["client"].set_registered_model_alias(registry["name"], "champion", other)
    try:
        time.sleep(3)
        numbered = pinned["numbered"].post(TEXT)
        alias = httpx.post(pinned["alias"].url + "/invocations", json=TEXT, headers=BACKEND, timeout=30)
    finally:
        registry["client"].set_registered_model_alias(registry["name"], "champion", served)
    assert numbered.headers["x-model-version"] == "1"
    assert alias.status_code == 200 and alias.headers["x-model-version"] == served
    assert pinned["numbered"].get("/models").json()["follows"] is None
    assert "pinned" in pinned["alias"].log()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0000000000"},
                                     {"Authorization": "Basic 0123456789abcdef-backend"}])
def test_auth_refuses_a_missing_or_wrong_token_with_a_json_401(pinned, headers):
    for path in ("/invocations", "/args", "/models", "/docs"):
        response = httpx.request("POST" if path == "/invocations" else "GET", pinned["alias"].url + path,
                                 json=TEXT, headers=headers, timeout=30)
        assert response.status_code == 401, (path, response.text)
        body = response.json()
        assert body["error_code"] == "UNAUTHENTICATED" and "Bearer" in body["message"] and body["request_id"]


def test_auth_lets_known_tokens_and_the_probes_through_and_logs_names_not_tokens(pinned):
    url = pinned["alias"].url
    assert httpx.get(url + "/args", headers=BACKEND, timeout=30).status_code == 200
    anonymous = {"Authorization": "Bearer fedcba9876543210-anonymous"}
    assert httpx.post(url + "/invocations", json=TEXT, headers=anonymous, timeout=30).status_code == 200
    for probe in ("/ping", "/health", "/livez", "/readyz", "/metrics"):
        assert httpx.get(url + probe, timeout=30).status_code == 200, probe
    log = pinned["alias"].log()
    assert '"token": "backend"' in log and '"token": "token-3"' in log
    assert "0123456789abcdef-backend" not in log and "fedcba9876543210" not in log


def test_without_a_token_file_nothing_asks_for_one(pinned):
    assert pinned["numbered"].get("/args").status_code == 200


def test_unknown_arg_and_filter_get_json_errors_naming_them(pinned):
    server = pinned["numbered"]
    missing = server.get("/args/no_such_arg")
    assert missing.status_code == 404 and "no_such_arg" in missing.json()["message"]
    wrong = server.get("/performance?filter=everything")
    assert wrong.status_code == 400
    assert all(part in wrong.json()["message"] for part in ("everything", "overall", "class", "slices"))
    index = server.get("/").json()
    assert index["versions"] == ["1"] and index["links"]["docs"] == "/docs"
