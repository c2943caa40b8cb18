"""Monitoring fixtures: a registered version with a reference profile in the session's real tracking store,
real SQLite and PostgreSQL inference logs filled through monitoring.schema, and `tagifai monitor` run as a user
runs it (a subprocess, for its exit code and its two streams)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.inference_rows import example_profile, register_profiled_version
from harness.postgres import create_database

BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("TAGIFAI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def profile() -> dict:
    return example_profile()


@dataclass(frozen=True)
class Served:
    """A registered model whose champion (and, when asked, challenger) carry `profile`."""

    name: str
    champion: int

    def uri(self, ref: str = "@champion") -> str:
        return f"models:/{self.name}{ref}"


@pytest.fixture
def served(tracking_uri, profile) -> Served:
    name = f"tagifai-mon-{uuid.uuid4().hex[:8]}"
    return Served(name, register_profiled_version(name, profile))


@pytest.fixture
def sqlite_log(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'inference.db'}"


@pytest.fixture
def pg_log():
    url, drop = create_database(PG_ADMIN, "tagifai_monitor", driver="postgresql+psycopg2")
    yield url
    drop()


@dataclass(frozen=True)
class Done:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


@pytest.fixture
def monitor_cli(tracking_uri, tmp_path):
    """`monitor_cli(*args)`: `tagifai monitor ARGS` in a subprocess in tmp_path, on the session's tracking store
    (MLFLOW_TRACKING_URI)."""

    def run(*args) -> Done:
        done = subprocess.run([str(BIN / "tagifai"), "monitor", *map(str, args)], capture_output=True, text=True,
                              cwd=tmp_path, timeout=300)
        return Done(done.returncode, done.stdout, done.stderr)

    return run
