"""Helpers for the team-server tests: services in their own process group, the stack, the CLI as a subprocess.

The fixtures that assemble them are in conftest.py. What the stack is:

- a fresh PostgreSQL database (unique name, dropped at teardown); PostgreSQL itself must be up (CI starts it):
  if it is not, every test here FAILS with a message saying so;
- moto's S3 server through `scripts/s3_server.py` (bucket created);
- `mlflow server` with basic-auth through `scripts/tracking_server.py`, settings from one env file;
  default permission NO_PERMISSIONS, so only the grants of `tagifai users add` give access;
- users `trainer` and `viewer` created by the admin with `tagifai users add`;
- every `tagifai` command a subprocess whose environment holds only client settings (tracking URI, user,
  password): no S3 endpoint or credentials, so artifacts can only travel through the tracking server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.http import answers_ok
from harness.processes import log_text, start_logged, stop_group, wait_up

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
POSTGRES_ADMIN_DSN = os.environ.get("TAGIFAI_TEST_POSTGRES_DSN",
                                    "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
SERVER_START_TIMEOUT = 120.0
S3_START_TIMEOUT = 30.0
CLI_TIMEOUT = 240.0
MODEL_NAME = "tagifai"
# Environment variables a developer's shell may hold that would change what the processes under test do.
_FOREIGN_PREFIXES = ("MLFLOW_", "AWS_", "TAGIFAI_", "PYTEST_")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without MLflow/AWS/tagifai settings, the venv's bin first on PATH (an activated venv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES)}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Service:
    """A long-running process in its own session, with its log, started and stopped at will."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    starts: int = 0

    def start(self) -> None:
        assert not self.running, f"{self.name} is already running"
        self.starts += 1
        self.log_path = self.log_dir / f"{self.name}-{self.starts}.log"
        self.process = start_logged(self.command, self.log_path, env=self.env, cwd=self.log_dir)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self, tail: int = 60) -> str:
        return log_text(self.log_path, tail)

    def wait_until(self, ready, timeout: float) -> None:
        wait_up(self.process, ready, timeout, f"{self.name} ready", self.log_path)


@dataclass
class CliRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def __str__(self) -> str:
        return (f"$ {' '.join(self.args)}  -> exit {self.returncode} in {self.seconds:.1f} s\n"
                f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}")


@dataclass
class TeamStack:
    url: str
    s3_endpoint: str
    bucket: str
    prefix: str
    database: str
    env_file: Path
    server_dir: Path
    client_dir: Path
    s3: Service
    server: Service
    passwords: dict[str, str] = field(default_factory=dict)

    # --- processes -------------------------------------------------------------------------------------------
    def start_s3(self) -> None:
        self.s3.start()
        self.s3.wait_until(lambda: "ready on" in self.s3.log(), S3_START_TIMEOUT)

    def start_server(self) -> None:
        self.server.start()
        self.server.wait_until(self._healthy, SERVER_START_TIMEOUT)

    def ensure_up(self) -> None:
        """Each test starts from a running stack, whatever an earlier test stopped."""
        if not self.s3.running:
            self.start_s3()
        if not self.server.running:
            self.start_server()

    def _healthy(self) -> bool:
        return answers_ok(f"{self.url}/health")

    # --- clients ---------------------------------------------------------------------------------------------
    def client_env(self, user: str | None, **extra: str) -> dict[str, str]:
        """What a team member exports: the tracking URI and a login. Nothing about S3."""
        env = clean_env(MLFLOW_TRACKING_URI=self.url, **extra)
        if user is not None:
            env.update(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=self.passwords[user])
        return env

    def cli(self, user: str | None, *args: str, cwd: Path | None = None, timeout: float = CLI_TIMEOUT,
            **extra: str) -> CliRun:
        return self.run(user, str(BIN / "tagifai"), *args, cwd=cwd, timeout=timeout, **extra)

    def run(self, user: str | None, *command: str, cwd: Path | None = None, timeout: float = CLI_TIMEOUT,
            **extra: str) -> CliRun:
        start = time.monotonic()
        done = subprocess.run(list(command), env=self.client_env(user, **extra), cwd=cwd or self.client_dir,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return CliRun((Path(command[0]).name, *command[1:]), done.returncode,
                      done.stdout, done.stderr, time.monotonic() - start)

    def api(self, user: str, method: str, path: str, **kwargs) -> httpx.Response:
        """A raw REST call as `user` (checks state without going through the code under test)."""
        return httpx.request(method, f"{self.url}{path}", auth=(user, self.passwords[user]), timeout=30, **kwargs)

    def s3_keys(self, contains: str = "") -> list[str]:
        import boto3

        client = boto3.client("s3", endpoint_url=self.s3_endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        keys, token = [], None
        while True:
            page = client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix + "/",
                                          **({"ContinuationToken": token} if token else {}))
            keys += [obj["Key"] for obj in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not token:
                return [k for k in keys if contains in k]

    def logs(self) -> str:
        return f"--- tracking server log\n{self.server.log()}\n--- s3 log\n{self.s3.log(20)}"


@dataclass
class TrainedRun:
    run_id: str
    model_id: str
    stdout: str


def parse_train(done: CliRun) -> TrainedRun:
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines()
                 if line.startswith(("run_id: ", "model_uri: ")))
    return TrainedRun(lines["run_id"].strip(), lines["model_uri"].strip().removeprefix("models:/"), done.stdout)
