"""scripts/tracking_server.py without starting a server: what it refuses, what it writes, the command it runs.

Fast: no PostgreSQL, no S3. The auth config is read back by MLflow's own reader, and the flags are checked
against `mlflow server --help`.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest

from tagifai.config import read_env_file
from team_stack import BIN, ROOT, clean_env

SCRIPT = ROOT / "scripts" / "tracking_server.py"
GOOD = {"MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-admin-password", "MLFLOW_FLASK_SERVER_SECRET_KEY": "0123456789abcdef"}


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("tracking_server_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("env, named", [
    ({"MLFLOW_FLASK_SERVER_SECRET_KEY": "k"}, "MLFLOW_AUTH_ADMIN_PASSWORD is not set"),
    ({**GOOD, "MLFLOW_AUTH_ADMIN_PASSWORD": "short"}, "at least 12 characters"),
    ({**GOOD, "MLFLOW_AUTH_ADMIN_PASSWORD": "CHANGE_ME_admin_password"}, "placeholder"),
    ({"MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-admin-password"}, "MLFLOW_FLASK_SERVER_SECRET_KEY is not set"),
    ({**GOOD, "TAGIFAI_SERVER_HOST": "0.0.0.0"}, "TAGIFAI_SERVER_ALLOWED_HOSTS"),
    ({**GOOD, "TAGIFAI_AUTH_DEFAULT_PERMISSION": "ALL"}, "TAGIFAI_AUTH_DEFAULT_PERMISSION"),
    ({**GOOD, "TAGIFAI_SERVER_PORT": "http"}, "TAGIFAI_SERVER_PORT"),
    ({**GOOD, "MLFLOW_BACKEND_STORE_URI": "file:///tmp/mlruns"}, "MLFLOW_BACKEND_STORE_URI"),
])
def test_refuses_bad_settings_naming_the_variable(script, env, named):
    with pytest.raises(script.SettingsError, match=re.escape(named)):
        script.settings_from(env)


def test_defaults_local_sqlite_loopback_and_psycopg2(script, tmp_path):
    settings = script.settings_from({**GOOD, "TAGIFAI_SERVER_DIR": str(tmp_path)})
    assert settings.backend_store_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.artifacts_destination == str(tmp_path / "mlartifacts")
    assert (settings.host, settings.port, settings.admin_username, settings.default_permission) == (
        "127.0.0.1", 5000, "admin", "READ")
    # SQLAlchemy 2.1 reads postgresql:// as psycopg 3, which is not installed: the script picks psycopg2.
    postgres = script.settings_from({**GOOD, "MLFLOW_BACKEND_STORE_URI": "postgresql://u:p@db:5432/mlflow"})
    assert postgres.backend_store_uri == postgres.auth_database_uri == "postgresql+psycopg2://u:p@db:5432/mlflow"
    assert script.redact(postgres.backend_store_uri) == "postgresql+psycopg2://u:***@db:5432/mlflow"


@pytest.mark.slow  # runs the mlflow CLI (a process importing all of MLflow)
def test_auth_config_reads_back_through_mlflows_reader(script, tmp_path):
    settings = script.settings_from({**GOOD, "MLFLOW_BACKEND_STORE_URI": "postgresql://u:p%40ss@db/mlflow",
                                     "TAGIFAI_AUTH_DEFAULT_PERMISSION": "no_permissions"})
    ini = tmp_path / "basic_auth.ini"
    ini.write_text(script.auth_config(settings))
    assert "a-long-admin-password" not in ini.read_text()  # the password stays in the environment
    code = "from mlflow.server.auth.config import read_auth_config as r; c = r(); print(c.database_uri, " \
           "c.default_permission, c.admin_username, c.auth_cache_ttl_seconds, c.admin_password, sep='|')"
    out = subprocess.run([str(BIN / "python"), "-c", code], env=clean_env(MLFLOW_AUTH_CONFIG_PATH=str(ini)),
                         capture_output=True, text=True, check=True, timeout=120).stdout.strip().splitlines()[-1]
    assert out == "postgresql+psycopg2://u:p%40ss@db/mlflow|NO_PERMISSIONS|admin|60|None"


@pytest.mark.slow  # runs the mlflow CLI (a process importing all of MLflow)
def test_command_uses_flags_mlflow_server_has(script):
    command = script.server_command(script.settings_from(GOOD))
    help_text = subprocess.run([str(BIN / "mlflow"), "server", "--help"], capture_output=True, text=True, check=True,
                               env=clean_env(), timeout=60).stdout
    flags = [part for part in command if part.startswith("--")]
    assert set(flags) <= set(re.findall(r"--[a-z][a-z-]*", help_text)), flags
    assert command[command.index("--app-name") + 1] == "basic-auth"
    assert "--artifacts-destination" in command and "--serve-artifacts" in command


def test_script_refuses_to_start_without_an_admin_password(tmp_path):
    env_file = tmp_path / "team.env"
    env_file.write_text(f"MLFLOW_FLASK_SERVER_SECRET_KEY=k\nTAGIFAI_SERVER_DIR={tmp_path / 'server'}\n")
    done = subprocess.run([str(BIN / "python"), str(SCRIPT), "--env-file", str(env_file)], env=clean_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "MLFLOW_AUTH_ADMIN_PASSWORD is not set" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "server").exists()  # nothing started, nothing written


def test_dry_run_prints_the_command_with_secrets_redacted(tmp_path):
    env_file = tmp_path / "team.env"
    env_file.write_text("\n".join([
        "# a comment", "export MLFLOW_AUTH_ADMIN_PASSWORD='a-long-admin-password'",
        "MLFLOW_FLASK_SERVER_SECRET_KEY=0123456789abcdef  # inline comment",
        "MLFLOW_BACKEND_STORE_URI=postgresql://mlflow:db-secret@127.0.0.1:5432/mlflow",
        "MLFLOW_ARTIFACTS_DESTINATION=s3://bucket/prefix", ""]))
    assert read_env_file(env_file)["MLFLOW_FLASK_SERVER_SECRET_KEY"] == "0123456789abcdef"
    done = subprocess.run([str(BIN / "python"), str(SCRIPT), "--env-file", str(env_file), "--dry-run"],
                          env=clean_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "db-secret" not in done.stdout and "a-long-admin-password" not in done.stdout
    assert "--artifacts-destination s3://bucket/prefix" in done.stdout and "--app-name basic-auth" in done.stdout
