"""Fixtures: a whole team stack on free ports, started the way a user starts it (see team_stack.py)."""

from __future__ import annotations

import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.ports import free_port
from harness.postgres import create_database
from team_stack import (
    BIN, POSTGRES_ADMIN_DSN, ROOT, MODEL_NAME, Service, TeamStack, TrainedRun, clean_env, parse_train,
)


@pytest.fixture(scope="session")
def postgres_database() -> str:
    """A fresh database for this session (its URI); dropped, connections and all, at teardown."""
    import psycopg2

    try:
        uri, drop = create_database(POSTGRES_ADMIN_DSN, "tagifai_team")
    except psycopg2.OperationalError as exc:
        # Not a skip: CI guarantees PostgreSQL, so its absence is a failure to see, not a test to leave out.
        pytest.fail(f"PostgreSQL is not reachable ({POSTGRES_ADMIN_DSN}): the team-server tests need it; .ci/run "
                    f"starts it (TAGIFAI_TEST_POSTGRES_DSN points elsewhere). {str(exc).strip()}", pytrace=False)
    yield uri
    drop()


@pytest.fixture(scope="session")
def team(postgres_database, tmp_path_factory) -> TeamStack:
    base = tmp_path_factory.mktemp("team")
    server_dir, client_dir, log_dir = base / "server", base / "client", base / "logs"
    for path in (server_dir, client_dir, log_dir):
        path.mkdir()
    port, s3_port = free_port(), free_port()
    bucket, prefix = f"tagifai-team-{uuid.uuid4().hex[:8]}", "mlflow"
    passwords = {user: f"{user}-{secrets.token_urlsafe(12)}" for user in ("admin", "trainer", "viewer")}
    env_file = base / "team.env"
    settings = {
        "MLFLOW_BACKEND_STORE_URI": postgres_database,
        "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{bucket}/{prefix}",
        "MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        "MLFLOW_AUTH_ADMIN_PASSWORD": passwords["admin"],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32),
        "TAGIFAI_AUTH_DEFAULT_PERMISSION": "NO_PERMISSIONS",
        "TAGIFAI_SERVER_HOST": "127.0.0.1",
        "TAGIFAI_SERVER_PORT": str(port),
        "TAGIFAI_SERVER_WORKERS": "1",
        "TAGIFAI_SERVER_DIR": str(server_dir),
    }
    env_file.write_text("".join(f"{k}='{v}'\n" for k, v in settings.items()))
    s3 = Service("s3", [str(BIN / "python"), str(ROOT / "scripts" / "s3_server.py"), "--env-file", str(env_file)],
                 clean_env(), log_dir)
    server = Service("tracking-server", [str(BIN / "python"), str(ROOT / "scripts" / "tracking_server.py"),
                                         "--env-file", str(env_file)], clean_env(), log_dir)
    stack = TeamStack(f"http://127.0.0.1:{port}", settings["MLFLOW_S3_ENDPOINT_URL"], bucket, prefix,
                      postgres_database.rsplit("/", 1)[1], env_file, server_dir, client_dir, s3, server, passwords)
    try:
        stack.start_s3()
        stack.start_server()
        with ThreadPoolExecutor(max_workers=2) as pool:
            added = pool.map(lambda user: stack.cli("admin", "users", "add", user, "--role", user,
                                                    TAGIFAI_USER_PASSWORD=passwords[user]), ("trainer", "viewer"))
        for done in added:
            assert done.returncode == 0, f"{done}\n{stack.logs()}"
        yield stack
    finally:
        server.stop()
        s3.stop()


@pytest.fixture(scope="session")
def trained(team) -> TrainedRun:
    """The trainer's first run (5 epochs: quick, still a real model)."""
    team.ensure_up()
    done = team.cli("trainer", "train", "--set", "classifier=sgd", "--set", "num_epochs=5", "--run-name", "first")
    assert done.returncode == 0, f"{done}\n{team.logs()}"
    return parse_train(done)


@pytest.fixture(scope="session")
def champion(team, trained) -> str:
    """`trained` promoted by the trainer: version number of the champion."""
    team.ensure_up()
    # --force: past the promotion gate (registry/gate.py), whose behavioural bar is not what is tested here.
    done = team.cli("trainer", "promote", "--run-id", trained.run_id, "--force")
    assert done.returncode == 0, f"{done}\n{team.logs()}"
    aliases = team.api("viewer", "GET", "/api/2.0/mlflow/registered-models/alias",
                       params={"name": MODEL_NAME, "alias": "champion"}).json()
    return aliases["model_version"]["version"]


@pytest.fixture(scope="session")
def second_run(team, champion) -> TrainedRun:
    """Another finished run of the trainer, not the champion (a candidate someone may try to promote)."""
    team.ensure_up()
    done = team.cli("trainer", "train", "--set", "num_epochs=2", "--run-name", "second")
    assert done.returncode == 0, f"{done}\n{team.logs()}"
    return parse_train(done)
