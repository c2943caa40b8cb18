"""Champion and challenger on live traffic, with real servers and a real SQLite registry: in shadow mode the
answers are the champion's and the agreement reported equals the two models' agreement offline; in split mode
the challenger answers its share, sticky per routing key; the challenger alias comes, moves and goes while
serving, and a broken challenger is refused without touching the champion."""

from __future__ import annotations

import httpx
import mlflow
import pytest

from harness.ports import wait_for
from tagifai import config
from tagifai.data import load_projects

from serving_contract import contract
from serving_registry import broken_version

pytestmark = pytest.mark.slow

N_TEXTS = 200


@pytest.fixture(scope="module")
def texts() -> list[str]:
    projects, _ = load_projects(config.DATA_PATH)
    return projects["text"].sample(N_TEXTS, random_state=7).tolist()


def set_challenger(registry, version: str | None) -> None:
    if version is None:
        registry["client"].delete_registered_model_alias(registry["name"], "challenger")
    else:
        registry["client"].set_registered_model_alias(registry["name"], "challenger", version)


def challenger_entry(server) -> dict | None:
    return next((m for m in server.get("/models").json()["models"] if m["role"] == "challenger"), None)


@pytest.fixture(scope="module")
def shadow(start_server, registry):
    """One worker, version 1 the champion and version 2 the challenger, in shadow mode."""
    set_challenger(registry, "2")
    uri = f"models:/{registry['name']}@champion"
    args = ["--challenger", f"models:/{registry['name']}@challenger", "--poll-interval", "1"]
    with start_server(uri, args=args) as server:
        wait_for(lambda: challenger_entry(server), 30, "the challenger loaded")
        yield server


def offline_agreement(registry, texts: list[str]) -> float:
    champion, challenger = (mlflow.pyfunc.load_model(f"models:/{registry['name']}/{v}") for v in ("1", "2"))
    ours = champion.unwrap_python_model().predict_records(texts)
    theirs = challenger.unwrap_python_model().predict_records(texts)
    return sum(a["predicted_tag"] == b["predicted_tag"] for a, b in zip(ours, theirs)) / len(texts)


def test_shadow_answers_are_the_champions_and_the_agreement_is_the_models(shadow, registry, texts):
    champion = mlflow.pyfunc.load_model(f"models:/{registry['name']}/1").unwrap_python_model()
    with httpx.Client(base_url=shadow.url, timeout=30) as client:
        for start in range(0, len(texts), 5):
            chunk = texts[start:start + 5]
            response = client.post("/invocations", json={"inputs": {"text": chunk}})
            assert response.status_code == 200
            assert (response.headers["x-model-role"], response.headers["x-model-version"]) == ("champion", "1")
            tags = [p["predicted_tag"] for p in response.json()["predictions"]]
            assert tags == [r["predicted_tag"] for r in champion.predict_records(chunk)]
    live = wait_for(lambda: (c := challenger_entry(shadow)["live"]) and c.get("rows") == N_TEXTS and c, 15,
                    "every shadow row scored")
    expected = offline_agreement(registry, texts)
    assert abs(live["agreement"] - expected) <= 0.02, (live, expected)
    assert 0 <= live["mean_abs_top_probability_diff"] <= 1 and live["errors"] == 0
    assert abs(sum(live["tag_shares"].values()) - 1) < 1e-3


def test_the_challenger_alias_comes_moves_and_goes_while_serving(shadow, registry, tagifai_cli):
    tagifai_cli("challenger", "--clear", "--model-name", registry["name"])
    wait_for(lambda: challenger_entry(shadow) is None, 15, "the challenger gone")
    answer = shadow.post({"inputs": {"text": ["Transfer learning with transformers."]}})
    assert answer.status_code == 200 and answer.headers["x-model-role"] == "champion"
    tagifai_cli("challenger", "--run-id", registry["runs"]["2"], "--force", "--model-name", registry["name"])
    assert wait_for(lambda: challenger_entry(shadow), 15, "the challenger back")["version"] == "2"
    set_challenger(registry, "1")  # moved: the champion's own version, compared with itself
    wait_for(lambda: (challenger_entry(shadow) or {}).get("version") == "1", 15, "the challenger moved")
    set_challenger(registry, "2")
    wait_for(lambda: (challenger_entry(shadow) or {}).get("version") == "2", 15, "the challenger moved back")


def test_a_broken_challenger_is_refused_and_the_champion_is_untouched(shadow, registry, tmp_path):
    bad = broken_version(registry, tmp_path, "truncated predictor")
    set_challenger(registry, bad)
    try:
        last = wait_for(lambda: (r := shadow.get("/models").json()["last_reload"])["version"] == bad and r, 15,
                        "the broken challenger tried")
        assert last["status"] == "failed" and last["role"] == "challenger" and "broken" in last["reason"]
        answer = shadow.post({"inputs": {"text": ["Generative adversarial networks for images."]}})
        assert answer.status_code == 200 and answer.headers["x-model-version"] == "1"
        assert shadow.get("/models").json()["workers"][0]["version"] == "1"
    finally:
        set_challenger(registry, "2")


SHARE = 0.3


@pytest.fixture(scope="module")
def split(start_server, registry):
    set_challenger(registry, "2")
    uri = f"models:/{registry['name']}@champion"
    args = ["--workers", "2", "--challenger", f"models:/{registry['name']}@challenger", "--challenger-mode", "split",
            "--challenger-share", str(SHARE), "--poll-interval", "1"]
    with start_server(uri, args=args, timeout=120) as server:
        wait_for(lambda: [w.get("challenger_version") for w in server.get("/models").json()["workers"]] == ["2", "2"],
                 30, "both workers with the challenger")
        yield server


def test_split_gives_the_challenger_its_share(split):
    roles = []
    with httpx.Client(base_url=split.url, timeout=30) as client:
        for _ in range(1000):
            response = client.post("/invocations", json={"inputs": {"text": ["MLOps pipelines with Kubeflow."]}})
            assert response.status_code == 200
            version = response.headers["x-model-version"]
            roles.append(response.headers["x-model-role"])
            assert version == {"champion": "1", "challenger": "2"}[roles[-1]]
    share = roles.count("challenger") / len(roles)
    assert abs(share - SHARE) <= 0.05, share
    models = split.get("/models").json()
    contract("Models").validate(models)
    live = {m["role"]: m["live"] for m in models["models"]}
    assert live["challenger"]["requests"] + live["champion"]["requests"] >= 1000


def test_a_routing_key_always_gets_the_same_version(split):
    keys = [f"customer-{i}" for i in range(40)]
    seen: dict[str, set] = {}
    for _ in range(3):
        for key in keys:  # a new connection each time: both workers must agree
            response = httpx.post(split.url + "/invocations", json={"inputs": {"text": ["A text to tag."]}},
                                  headers={"X-Routing-Key": key, "Connection": "close"}, timeout=30)
            seen.setdefault(key, set()).add(response.headers["x-model-version"])
    assert all(len(versions) == 1 for versions in seen.values()), seen
    assert {v for versions in seen.values() for v in versions} == {"1", "2"}  # both get keys


def test_compare_live_prints_both_versions(split, tagifai_cli):
    table = tagifai_cli("compare-live", "--url", split.url).stdout
    for phrase in ("champion", "challenger", "requests", "p99 ms", "share "):
        assert phrase in table, table


def test_resources_describe_the_champion_even_in_split_mode(split, registry):
    for _ in range(20):
        response = split.get("/args/alpha")
        assert response.headers["x-model-role"] == "champion" and response.headers["x-model-version"] == "1"
