"""Security: no credential in what training logs or what the server says or logs; only registry models are
served unless --allow-local-model is given (a pyfunc model is code); the server binds 127.0.0.1 by default."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.slow

BIN_DIR = Path(sys.executable).parent
# Variables a real deployment carries: tracking server, S3/MinIO, Databricks, generic API tokens.
CREDENTIAL_VARIABLES = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "AWS_SECRET_ACCESS_KEY",
                        "AWS_SESSION_TOKEN", "DATABRICKS_TOKEN", "HF_TOKEN", "TAGIFAI_API_KEY")


# --- training: the marker in credential variables appears nowhere MLflow keeps or we print ------------------


@pytest.fixture(scope="module")
def secret_training(tracking_uri, serve_helpers):
    """`tagifai train` as a user runs it, with every credential variable set to one marker."""
    marker = f"ZQXCRED{uuid.uuid4().hex[:12]}"
    experiment = f"secrets-{uuid.uuid4().hex[:6]}"
    env = {**serve_helpers.env_without_venv(), "MLFLOW_TRACKING_URI": tracking_uri,
           **{name: marker for name in CREDENTIAL_VARIABLES}}
    store_root = Path(tracking_uri.removeprefix("sqlite:///")).parent  # the db and the artifact root
    result = subprocess.run([str(BIN_DIR / "tagifai"), "-v", "train", "--experiment-name", experiment],
                            env=env, cwd=store_root, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return marker, experiment, store_root, result


def test_training_logs_no_credential_in_params_tags_metrics_or_output(secret_training):
    marker, experiment, _, result = secret_training
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert runs
    for run in runs:
        logged = [*run.data.params.items(), *run.data.tags.items(), *((k, "") for k in run.data.metrics),
                  ("run_name", run.info.run_name or "")]
        leaks = [(k, v) for k, v in logged if marker in k or marker in str(v)]
        assert not leaks, leaks
    models = client.search_logged_models(experiment_ids=[runs[0].info.experiment_id])
    assert models
    for model in models:
        assert marker not in str(model.params) + str(model.tags) + str(model.name)
    assert marker not in result.stdout and marker not in result.stderr  # the captured log (-v: DEBUG) too


def test_no_credential_in_any_byte_of_the_store_or_the_artifacts(secret_training):
    """The SQLite store and every artifact (run files, the model: MLmodel, requirements, code, pickle), as bytes."""
    marker, _, store_root, _ = secret_training
    needle = marker.encode()
    scanned = 0
    for path in store_root.rglob("*"):
        if path.is_file():
            scanned += 1
            assert needle not in path.read_bytes(), f"credential in {path}"
    assert scanned > 10


# --- what the server says ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ping", "/version", "/livez", "/readyz", "/metrics", "/openapi.json", "/docs",
                                  "/nowhere"])
def test_the_server_never_sends_its_credentials(hardened_server, server_secret, path):
    response = hardened_server.get(path)
    assert server_secret not in response.text + str(response.headers)


# --- only registry models, unless told; local by default ----------------------------------------------------


def test_serve_refuses_a_local_model_without_the_flag_and_says_why(tracking_uri, serve_helpers, champion_uri,
                                                                     tmp_path):
    local = mlflow.artifacts.download_artifacts(champion_uri, dst_path=str(tmp_path))
    port = serve_helpers.free_port()
    result = subprocess.run(serve_helpers.tagifai_serve_command(local, port), capture_output=True, text=True,
                            env={**serve_helpers.env_without_venv(), "MLFLOW_TRACKING_URI": tracking_uri},
                            timeout=120, start_new_session=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: refusing to load '{local}': only models:/ and runs:/ URIs of the tracking server "
        f"({tracking_uri}) are served; pass --allow-local-model to serve a local path"]


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of the TCP sockets process `pid` listens on (from /proc: its fds' inodes in net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, size in (("tcp", 4), ("tcp6", 16)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # LISTEN
                address, port = local.split(":")
                raw = bytes.fromhex(address)
                if size == 4:
                    host = ".".join(str(b) for b in raw[::-1])
                else:
                    host = ":".join(raw[i:i + 4][::-1].hex() for i in range(0, 16, 4))
                found.add((host, int(port, 16)))
    return found


def test_a_local_model_is_served_with_the_flag_and_only_on_127_0_0_1_by_default(
    tracking_uri, serve_helpers, champion_uri, tmp_path
):
    local = mlflow.artifacts.download_artifacts(champion_uri, dst_path=str(tmp_path))
    port = serve_helpers.free_port()
    command = [str(BIN_DIR / "tagifai"), "serve", "--model-uri", local, "--allow-local-model", "--port", str(port)]
    env = {**serve_helpers.env_without_venv(), "MLFLOW_TRACKING_URI": tracking_uri}
    with serve_helpers.running_server(command, port, env, tmp_path, cwd=tmp_path) as server:  # no --host: the default
        assert listening_addresses(server.process.pid) == {("127.0.0.1", port)}
        response = server.post({"inputs": ["Transfer learning with transformers for text classification."]})
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["predicted_tag"] == "natural-language-processing"
        assert response.headers["x-model-name"] == "unregistered"
