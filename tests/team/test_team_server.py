"""The whole workflow against a team tracking server (PostgreSQL, S3 through the server, basic-auth), end to end.

Real processes only (see conftest.py): the CLI as subprocesses, `mlflow server`, moto's S3 server, PostgreSQL.
The tests are written to run in file order (the faults last): moto keeps objects in memory, so the S3 outage
test loses the files of earlier runs when it restarts S3, and the last test leaves the tracking server down.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from harness.ports import free_port, wait_for
from harness.processes import running
from team_stack import BIN, MODEL_NAME, ROOT, parse_train

pytestmark = pytest.mark.slow

EXAMPLE = "Transfer learning with transformers for text classification."
FAIL_FAST_SECONDS = 30.0


def experiment_id(team, name: str = "tagifai") -> str:
    found = team.api("admin", "GET", "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name})
    assert found.status_code == 200, found.text
    return found.json()["experiment"]["experiment_id"]


def runs(team, experiment: str) -> dict[str, dict]:
    found = team.api("admin", "POST", "/api/2.0/mlflow/runs/search",
                     json={"experiment_ids": [experiment], "max_results": 1000})
    assert found.status_code == 200, found.text
    return {run["info"]["run_id"]: run for run in found.json().get("runs", [])}


def versions(team) -> list[dict]:
    found = team.api("admin", "GET", "/api/2.0/mlflow/model-versions/search", params={"filter": f"name='{MODEL_NAME}'"})
    assert found.status_code == 200, found.text
    return sorted(found.json().get("model_versions", []), key=lambda v: int(v["version"]))


def aliases(team) -> dict[str, str]:
    found = team.api("admin", "GET", "/api/2.0/mlflow/registered-models/get", params={"name": MODEL_NAME})
    assert found.status_code == 200, found.text
    return {a["alias"]: a["version"] for a in found.json()["registered_model"].get("aliases", [])}


def no_traceback(done) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, str(done)


def local_model_files(*roots: Path) -> list[Path]:
    """Any MLflow model or artifact file written to local disk under these folders."""
    found = []
    for root in roots:
        if root.exists():
            found += [p for p in root.rglob("*") if p.name in ("MLmodel", "performance.json", "predictor.joblib")]
    return found


# --- authentication and the happy path -----------------------------------------------------------------------

def test_requests_without_valid_login_get_401(team):
    team.ensure_up()
    search = "/api/2.0/mlflow/experiments/search"
    assert httpx.post(f"{team.url}{search}", json={"max_results": 1}, timeout=10).status_code == 401
    assert httpx.post(f"{team.url}{search}", json={"max_results": 1}, auth=("viewer", "wrong-password-123"),
                      timeout=10).status_code == 401
    assert httpx.get(f"{team.url}/health", timeout=10).status_code == 200  # probes need no login

    anonymous = team.cli(None, "models")
    assert anonymous.returncode != 0, str(anonymous)
    assert "authentication required" in anonymous.stderr and "MLFLOW_TRACKING_USERNAME" in anonymous.stderr
    no_traceback(anonymous)


def test_train_stores_the_model_in_s3_through_the_server_not_on_disk(team, trained):
    keys = team.s3_keys()
    model_files = [k for k in keys if f"/models/{trained.model_id}/artifacts/" in k]
    names = {Path(k).name for k in model_files}
    assert {"MLmodel", "requirements.txt", "predictor.joblib"} <= names, keys
    assert any(k.endswith(f"/{trained.run_id}/artifacts/performance.json") for k in keys), keys
    # Clients had no S3 settings at all (conftest strips them): the bytes went through the tracking server,
    # and neither the client's folder, the server's folder nor the repository got a copy.
    assert not local_model_files(team.client_dir, team.server_dir, ROOT / "mlartifacts")
    run = team.api("viewer", "GET", "/api/2.0/mlflow/runs/get", params={"run_id": trained.run_id}).json()["run"]
    assert run["info"]["status"] == "FINISHED"
    assert run["info"]["artifact_uri"].startswith("mlflow-artifacts:/")


def test_promote_and_serve_the_champion_through_the_server(team, trained, champion):
    assert aliases(team)["champion"] == champion
    listed = team.cli("viewer", "models")
    assert listed.returncode == 0 and "champion" in listed.stdout and trained.run_id in listed.stdout, str(listed)

    # The viewer serves the champion: the model is downloaded through the tracking server with its login.
    port = free_port()
    log_path = team.client_dir / f"serve-{port}.log"
    command = [str(BIN / "tagifai"), "serve", "--model-uri", f"models:/{MODEL_NAME}@champion", "--host", "127.0.0.1",
               "--port", str(port)]
    with running(command, log_path, ready_url=f"http://127.0.0.1:{port}/ping", timeout=90,
                 env=team.client_env("viewer"), cwd=team.client_dir):
        answer = httpx.post(f"http://127.0.0.1:{port}/invocations", json={"dataframe_records": [{"text": EXAMPLE}]},
                            timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0]["predicted_tag"] == "natural-language-processing"
    assert not local_model_files(team.client_dir)


def test_args_and_performance_of_the_champion(team, trained, champion):
    epochs = team.cli("viewer", "args", "num_epochs")
    assert epochs.returncode == 0 and epochs.stdout.strip() == "5", str(epochs)
    overall = team.cli("viewer", "performance", "--filter", "overall")
    assert overall.returncode == 0, str(overall)
    assert '"f1"' in overall.stdout and '"num_samples"' in overall.stdout


# --- permissions ---------------------------------------------------------------------------------------------

def test_viewer_cannot_promote_and_nothing_changes(team, champion, second_run):
    before_versions, before_aliases = versions(team), aliases(team)
    denied = team.cli("viewer", "promote", "--run-id", second_run.run_id, "--force")
    assert denied.returncode != 0, str(denied)
    assert "permission denied: user 'viewer' cannot" in denied.stderr and "403" in denied.stderr, str(denied)
    no_traceback(denied)
    assert versions(team) == before_versions
    assert aliases(team) == before_aliases  # (the trainer's promote of the same kind passed: see `champion`)


def test_trainer_promotes_and_rolls_back_a_viewer_cannot_roll_back(team, champion, second_run):
    promoted = team.cli("trainer", "promote", "--run-id", second_run.run_id, "--force")
    assert promoted.returncode == 0, str(promoted)
    new = aliases(team)
    assert new["previous"] == champion and new["champion"] != champion, new

    denied = team.cli("viewer", "rollback")
    assert denied.returncode != 0 and "permission denied: user 'viewer' cannot" in denied.stderr, str(denied)
    no_traceback(denied)
    assert aliases(team) == new

    back = team.cli("trainer", "rollback")
    assert back.returncode == 0, str(back)
    assert aliases(team)["champion"] == champion
    stages = {v["version"]: v["current_stage"] for v in versions(team)}
    assert stages[champion] == "Production" and stages[new["champion"]] == "Archived", stages


def test_mlflow_run_of_the_project_against_the_server(team):
    team.ensure_up()
    name = f"project-{uuid.uuid4().hex[:6]}"
    args_file = team.client_dir / "args-quick.json"  # the shipped arguments, fewer epochs (the suite's time budget)
    args_file.write_text(json.dumps({**json.loads((ROOT / "config" / "args.json").read_text()), "num_epochs": 5}))
    done = team.run("trainer", str(BIN / "mlflow"), "run", str(ROOT), "-e", "train", "--env-manager", "local",
                    "--experiment-name", name, "-P", f"args_file={args_file}", cwd=ROOT)
    assert done.returncode == 0, f"{done}\n{team.logs()}"
    found = runs(team, experiment_id(team, name))
    assert [r["info"]["status"] for r in found.values()] == ["FINISHED"], found
    run_id = next(iter(found))
    assert team.s3_keys(f"/{run_id}/artifacts/performance.json"), "the project's run artifacts are not in S3"


# --- faults --------------------------------------------------------------------------------------------------

def test_server_restart_keeps_runs_metrics_versions_and_aliases(team, champion, second_run):
    experiment = experiment_id(team)

    def snapshot():
        state = {rid: (r["info"]["status"],
                       sorted((m["key"], m["value"], m["step"]) for m in r["data"].get("metrics", [])))
                 for rid, r in runs(team, experiment).items()}
        history = team.api("admin", "GET", "/api/2.0/mlflow/metrics/get-history",
                           params={"run_id": second_run.run_id, "metric_key": "train_loss"}).json()
        return state, history, [(v["version"], v["run_id"], v["current_stage"]) for v in versions(team)], aliases(team)

    before = snapshot()
    assert before[0] and before[2] and before[3], before
    team.server.stop()
    team.start_server()
    assert snapshot() == before


def champion_run(team) -> str:
    return team.api("viewer", "GET", "/api/2.0/mlflow/registered-models/alias",
                    params={"name": MODEL_NAME, "alias": "champion"}).json()["model_version"]["run_id"]


def test_serving_outlives_a_tracking_server_outage_then_follows_the_alias_again(team, trained, second_run):
    team.ensure_up()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = team.client_dir / f"serve-follow-{port}.log"
    command = [str(BIN / "tagifai"), "serve", "--model-uri", f"models:/{MODEL_NAME}@champion", "--host", "127.0.0.1",
               "--port", str(port), "--poll-interval", "1"]

    def answer() -> httpx.Response:
        return httpx.post(f"{url}/invocations", json={"inputs": {"text": [EXAMPLE]}}, timeout=30)

    def registry() -> dict:
        return httpx.get(f"{url}/models", timeout=30).json()["registry"]

    with running(command, log_path, ready_url=f"{url}/ping", timeout=90, env=team.client_env("viewer"),
                 cwd=team.client_dir):
        served = answer().headers["x-model-version"]
        team.server.stop()
        try:
            down = wait_for(lambda: (r := registry())["reachable"] is False and r, 60, "the outage seen")
            assert down["since"] and down["error"]
            during = answer()
            assert during.status_code == 200 and during.headers["x-model-version"] == served
            wait_for(lambda: log_path.read_text().count("registry unreachable") >= 1, 10, "the outage logged")
            time.sleep(3)  # more failed polls: still one line
        finally:
            team.start_server()
        wait_for(lambda: registry()["reachable"], 60, "the registry seen again")
        other = second_run.run_id if champion_run(team) != second_run.run_id else trained.run_id
        promoted = team.cli("trainer", "promote", "--run-id", other, "--force")
        assert promoted.returncode == 0, str(promoted)
        wait_for(lambda: answer().headers["x-model-version"] != served, 30, "the promotion served")
        log = log_path.read_text()
    assert log.count("registry unreachable") == 1, log[-3000:]
    assert "registry reachable again" in log and "Traceback" not in log


def test_s3_down_during_training_fails_the_run_then_a_retry_succeeds(team, champion):
    team.ensure_up()
    experiment = experiment_id(team)
    before_versions = versions(team)
    team.s3.stop()
    try:
        failed = team.cli("trainer", "train", "--set", "num_epochs=2", "--run-name", "s3-down")
    finally:
        team.start_s3()  # like `make s3` again: moto starts empty, the bucket is created anew
    assert failed.returncode != 0, str(failed)
    assert "artifact store unavailable" in failed.stderr and "FAILED" in failed.stderr, str(failed)
    no_traceback(failed)
    down = [r for r in runs(team, experiment).values() if r["info"]["run_name"] == "s3-down"]
    assert [r["info"]["status"] for r in down] == ["FAILED"], down
    assert versions(team) == before_versions  # nothing half-registered: no version, no READY model
    models = team.api("admin", "POST", "/api/2.0/mlflow/logged-models/search",
                      json={"experiment_ids": [experiment],
                            "filter": f"source_run_id = '{down[0]['info']['run_id']}'"}).json()
    assert [m for m in models.get("models", []) if m["info"].get("status") == "LOGGED_MODEL_READY"] == [], models

    retry = team.cli("trainer", "train", "--set", "num_epochs=2", "--run-name", "s3-retry")
    assert retry.returncode == 0, f"{retry}\n{team.logs()}"
    again = parse_train(retry)
    assert team.s3_keys(f"/models/{again.model_id}/artifacts/MLmodel")


def test_every_command_fails_fast_when_the_tracking_server_is_down(team, champion):
    team.ensure_up()
    team.server.stop()
    commands = [("train", "--set", "num_epochs=1"), ("promote",), ("rollback",), ("models",), ("args",),
                ("performance",), ("serve", "--port", str(free_port())), ("users", "list")]
    # Four at a time: most of a command's time is waiting for retries, not CPU (2 cores here).
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(lambda args: team.cli("trainer", *args, timeout=120), commands))
    for result in done:
        assert result.returncode != 0, str(result)
        assert f"cannot reach the tracking server {team.url}" in result.stderr, str(result)
        no_traceback(result)
        assert result.seconds < FAIL_FAST_SECONDS, str(result)
