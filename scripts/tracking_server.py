"""Start the team tracking server: PostgreSQL (SQLite when none is given), artifacts proxied to S3, basic-auth.

    make tracking-server                                   # settings from .env (documented in .env.example)
    .venv/bin/python scripts/tracking_server.py --env-file team.env [--dry-run]

Settings come from one env file; a variable set in the environment wins over the file. Steps: check the
settings (refuse clearly without an admin password or a secret key) -> `mlflow db upgrade` -> write the auth
config (mode 0600, in TAGIFAI_SERVER_DIR) -> replace this process with `mlflow server` (signals go to it).

Clients need no S3 credentials: artifacts go through the server (`mlflow-artifacts:/`), which alone talks to
the bucket with boto3 (AWS_* / MLFLOW_S3_ENDPOINT_URL for S3-compatible stores such as MinIO).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tagifai.config import database_uri, read_env_file

BIN_DIR = Path(sys.executable).parent
PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")
MIN_PASSWORD_LENGTH = 12  # MLflow's own rule for basic-auth passwords


class SettingsError(Exception):
    """A setting is missing or wrong: the server is not started."""


@dataclass
class ServerSettings:
    backend_store_uri: str
    artifacts_destination: str
    auth_database_uri: str
    admin_username: str
    default_permission: str
    auth_cache_ttl_seconds: int
    host: str
    port: int
    workers: int
    allowed_hosts: str | None
    server_dir: Path
    s3_endpoint_url: str | None


def redact(uri: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db"""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", uri)


def merged_env(env_file: Path | None) -> dict[str, str]:
    """The env file's values overlaid by the real environment (which wins)."""
    values = read_env_file(env_file) if env_file is not None else {}
    return {**values, **os.environ}


def _int(env: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be >= {minimum}")
    return value


def settings_from(env: dict[str, str]) -> ServerSettings:
    """Validate everything before anything starts; every message names the variable to fix."""
    password = env.get("MLFLOW_AUTH_ADMIN_PASSWORD", "")
    if not password:
        raise SettingsError(
            "MLFLOW_AUTH_ADMIN_PASSWORD is not set: the basic-auth app has no default admin password and the server "
            "is not started. Put it in the env file (see .env.example), e.g. "
            "MLFLOW_AUTH_ADMIN_PASSWORD=$(python -c 'import secrets; print(secrets.token_urlsafe(18))')")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise SettingsError(f"MLFLOW_AUTH_ADMIN_PASSWORD must be at least {MIN_PASSWORD_LENGTH} characters "
                            "(MLflow's rule)")
    for name in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        if env.get(name, "").startswith("CHANGE_ME"):
            raise SettingsError(f"{name} still has the placeholder of .env.example: set a real secret")
    if not env.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        raise SettingsError(
            "MLFLOW_FLASK_SERVER_SECRET_KEY is not set: the basic-auth app needs a static secret key (CSRF), the same "
            "for every worker and restart. e.g. MLFLOW_FLASK_SERVER_SECRET_KEY=$(python -c 'import secrets; "
            "print(secrets.token_hex(32))')")
    server_dir = Path(env.get("TAGIFAI_SERVER_DIR") or ".mlflow-server").resolve()
    backend = database_uri(env.get("MLFLOW_BACKEND_STORE_URI") or f"sqlite:///{server_dir / 'mlflow.db'}")
    if not backend.startswith(("postgresql", "sqlite:", "mysql")):
        raise SettingsError(f"MLFLOW_BACKEND_STORE_URI={redact(backend)}: use postgresql://... (or sqlite:///...)")
    destination = env.get("MLFLOW_ARTIFACTS_DESTINATION") or str(server_dir / "mlartifacts")
    permission = (env.get("TAGIFAI_AUTH_DEFAULT_PERMISSION") or "READ").upper()
    if permission not in PERMISSIONS:
        raise SettingsError(f"TAGIFAI_AUTH_DEFAULT_PERMISSION={permission}: choose one of {', '.join(PERMISSIONS)}")
    host = env.get("TAGIFAI_SERVER_HOST") or "127.0.0.1"
    allowed_hosts = env.get("TAGIFAI_SERVER_ALLOWED_HOSTS") or None
    if not _is_loopback(host) and not allowed_hosts:
        raise SettingsError(
            f"TAGIFAI_SERVER_HOST={host} exposes the server beyond this machine: also set TAGIFAI_SERVER_ALLOWED_HOSTS "
            "(the Host names clients use, e.g. mlflow.example.com:5000) and put TLS in front of it")
    return ServerSettings(
        backend_store_uri=backend,
        artifacts_destination=destination,
        auth_database_uri=database_uri(env.get("TAGIFAI_AUTH_DATABASE_URI") or backend),
        admin_username=env.get("MLFLOW_AUTH_ADMIN_USERNAME") or "admin",
        default_permission=permission,
        auth_cache_ttl_seconds=_int(env, "TAGIFAI_AUTH_CACHE_TTL_SECONDS", 60, 0),
        host=host,
        port=_int(env, "TAGIFAI_SERVER_PORT", 5000, 1),
        workers=_int(env, "TAGIFAI_SERVER_WORKERS", 2, 1),
        allowed_hosts=allowed_hosts,
        server_dir=server_dir,
        s3_endpoint_url=env.get("MLFLOW_S3_ENDPOINT_URL") or None,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_config(settings: ServerSettings) -> str:
    """The basic-auth ini (MLFLOW_AUTH_CONFIG_PATH). The admin password stays in the environment, not here."""
    # configparser interpolates '%': a URL-encoded password in the URI must be doubled.
    database_uri = settings.auth_database_uri.replace("%", "%%")
    return "\n".join([
        "[mlflow]",
        f"default_permission = {settings.default_permission}",
        f"database_uri = {database_uri}",
        f"admin_username = {settings.admin_username}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        # Each request's password check costs ~0.2 s of scrypt; cache a success per worker for this long
        # (a changed or deleted password stays valid on other workers until then).
        f"auth_cache_ttl_seconds = {settings.auth_cache_ttl_seconds}",
        "",
    ])


def server_command(settings: ServerSettings) -> list[str]:
    command = [
        str(BIN_DIR / "mlflow"), "server",
        "--backend-store-uri", settings.backend_store_uri,
        "--serve-artifacts", "--artifacts-destination", settings.artifacts_destination,
        "--app-name", "basic-auth",
        "--host", settings.host, "--port", str(settings.port), "--workers", str(settings.workers),
    ]
    if settings.allowed_hosts:
        command += ["--allowed-hosts", settings.allowed_hosts]
    return command


def upgrade_database(uri: str, env: dict[str, str]) -> None:
    """`mlflow db upgrade`: creates the tables of a new database, migrates an old one; a clear error otherwise."""
    done = subprocess.run([str(BIN_DIR / "mlflow"), "db", "upgrade", uri], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        cause = (errors or lines or [""])[-1]
        raise SettingsError(f"`mlflow db upgrade` failed for the backend store {redact(uri)}: {cause.strip()[:400]}")


def check_artifacts_destination(settings: ServerSettings, env: dict[str, str]) -> str | None:
    """A warning if the S3 bucket cannot be reached now (the server still starts; uploads fail until it can)."""
    if not settings.artifacts_destination.startswith("s3://"):
        return None
    import boto3
    from botocore.config import Config

    bucket = settings.artifacts_destination[len("s3://"):].split("/", 1)[0]
    try:
        session = boto3.session.Session(
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"), aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=env.get("AWS_SESSION_TOKEN"), region_name=env.get("AWS_DEFAULT_REGION"),
            profile_name=env.get("AWS_PROFILE"))
        client = session.client("s3", endpoint_url=settings.s3_endpoint_url,
                                config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1}))
        client.head_bucket(Bucket=bucket)
    except Exception as exc:  # boto3's errors: no credentials, endpoint refused, 403, 404 ...
        endpoint = settings.s3_endpoint_url or "AWS S3"
        return f"artifact store {settings.artifacts_destination} ({endpoint}) is not reachable now: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", type=Path, default=Path(".env"),
                        help="KEY=VALUE settings (default: .env; see .env.example); the environment wins")
    parser.add_argument("--dry-run", action="store_true", help="check the settings, print the command, start nothing")
    options = parser.parse_args(argv)
    env_file = options.env_file if options.env_file.exists() else None
    if env_file is None and options.env_file != Path(".env"):
        print(f"error: env file {options.env_file} does not exist (copy .env.example)", file=sys.stderr)
        return 2
    try:
        env = merged_env(env_file)
        settings = settings_from(env)
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = server_command(settings)
    print(f"tracking server: backend {redact(settings.backend_store_uri)}, artifacts {settings.artifacts_destination}"
          f"{' via ' + settings.s3_endpoint_url if settings.s3_endpoint_url else ''}, users in "
          f"{redact(settings.auth_database_uri)} (default permission {settings.default_permission}), "
          f"http://{settings.host}:{settings.port} with {settings.workers} worker(s)", flush=True)
    if options.dry_run:
        print(" ".join(redact(part) for part in command))
        return 0
    settings.server_dir.mkdir(parents=True, exist_ok=True)
    try:
        upgrade_database(settings.backend_store_uri, env)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    warning = check_artifacts_destination(settings, env)
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    ini = settings.server_dir / "basic_auth.ini"
    ini.touch(mode=0o600)
    ini.chmod(0o600)
    ini.write_text(auth_config(settings))
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)
    sys.stdout.flush()
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
