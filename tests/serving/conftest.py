"""Real scoring servers for tests: a free port, its own process group, a readiness poll, a clean kill.

Reuse from any test under tests/serving with the `start_server` fixture:

    with start_server("models:/name@champion") as server:          # `tagifai serve`, venv NOT on PATH
        server.post({"dataframe_records": [{"text": "..."}]})
    with start_server(uri, launcher="mlflow") as server: ...        # plain `mlflow models serve`
    with start_server(uri, args=["--workers", "2"], env={"X": "1"}) as server: ...   # extra flags / env
    with start_server(uri, cwd=tmp_path) as server: ...                # a given working directory (default: a new
                                                                       # temporary one, where inference.db goes)
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness.ports import free_port
from harness.proc import children, ready_workers, rss_kib, worker_pids
from harness.processes import log_text, running, stop_group

BIN_DIR = Path(sys.executable).parent
START_TIMEOUT = 60.0


def env_without_venv() -> dict[str, str]:
    """This environment with the venv's bin removed from PATH: a shell where the venv is not activated."""
    env = dict(os.environ)
    bin_dir = BIN_DIR.resolve()
    kept = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != bin_dir]
    env["PATH"] = os.pathsep.join(kept or ["/usr/bin", "/bin"])
    return env


def env_with_venv() -> dict[str, str]:
    env = env_without_venv()
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env['PATH']}"
    return env


def tagifai_serve_command(model_uri: str, port: int) -> list[str]:
    return [str(BIN_DIR / "tagifai"), "serve", "--model-uri", model_uri, "--host", "127.0.0.1", "--port", str(port)]


def mlflow_serve_command(model_uri: str, port: int) -> list[str]:
    return [str(BIN_DIR / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
            "--host", "127.0.0.1", "--port", str(port)]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return log_text(self.log_path)

    def post(self, body, content_type: str = "application/json") -> httpx.Response:
        """POST /invocations: `body` is sent as JSON unless it is already str/bytes (then as-is)."""
        if isinstance(body, (str, bytes)):
            return httpx.post(f"{self.url}/invocations", content=body, headers={"Content-Type": content_type},
                              timeout=60)
        return httpx.post(f"{self.url}/invocations", json=body, timeout=60)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30)


@contextmanager
def running_server(command: list[str], port: int, env: dict[str, str], log_dir: Path,
                   timeout: float = START_TIMEOUT, cwd: Path | None = None) -> Iterator[Server]:
    """Start `command` (listening on 127.0.0.1:`port`) in a new session, in `cwd` (default: this process's);
    yield once GET /ping is 200."""
    log_path = log_dir / f"server-{port}-{uuid.uuid4().hex[:6]}.log"
    url = f"http://127.0.0.1:{port}"
    with running(command, log_path, ready_url=f"{url}/ping", timeout=timeout, env=env, cwd=cwd) as process:
        yield Server(url, process, log_path)


StartServer = Callable[..., AbstractContextManager[Server]]


@pytest.fixture(scope="session")
def start_server(tracking_uri, tmp_path_factory) -> StartServer:
    """`start_server(model_uri, launcher="tagifai"|"mlflow")`: a context manager yielding a ready `Server`.

    `tagifai` runs `tagifai serve` with the venv's bin deliberately NOT on PATH (the launcher must cope);
    `mlflow` runs plain `mlflow models serve --env-manager local` with the venv's bin on PATH.
    Both get MLFLOW_TRACKING_URI of the session's store.
    """
    log_dir = tmp_path_factory.mktemp("server-logs")

    def start(model_uri: str, launcher: str = "tagifai", timeout: float = START_TIMEOUT, args=(), env=None,
              cwd: Path | None = None):
        port = free_port()
        if launcher == "tagifai":
            command, environ = tagifai_serve_command(model_uri, port), env_without_venv()
        elif launcher == "mlflow":
            command, environ = mlflow_serve_command(model_uri, port), env_with_venv()
        else:
            raise ValueError(f"unknown launcher {launcher!r}")
        environ["MLFLOW_TRACKING_URI"] = tracking_uri
        # A folder of its own by default: the server writes its inference log (inference.db) where it runs.
        cwd = cwd or tmp_path_factory.mktemp("server-cwd")
        return running_server([*command, *args], port, {**environ, **(env or {})}, log_dir, timeout, cwd)

    return start


@pytest.fixture(scope="session")
def examples(request) -> tuple[str, str]:
    """(EXAMPLE_NLP, EXAMPLE_CV) from tests/conftest.py (conftests are not importable by module name)."""
    root_conftest = (Path(__file__).parent.parent / "conftest.py").resolve()
    for plugin in request.config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "/nonexistent").resolve() == root_conftest:
            return plugin.EXAMPLE_NLP, plugin.EXAMPLE_CV
    raise LookupError(f"{root_conftest} is not loaded as a conftest")


@pytest.fixture(scope="session")
def serve_helpers():
    """The plain helpers of this conftest, for tests that run a server command themselves
    (conftest modules cannot be imported by name reliably: there are several called `conftest`)."""
    from types import SimpleNamespace

    return SimpleNamespace(bin_dir=BIN_DIR, free_port=free_port, env_without_venv=env_without_venv, env_with_venv=env_with_venv,
                           tagifai_serve_command=tagifai_serve_command, mlflow_serve_command=mlflow_serve_command,
                           running_server=running_server, stop_group=stop_group, worker_pids=worker_pids,
                           ready_workers=ready_workers, rss_kib=rss_kib, children=children)


@pytest.fixture(scope="session")
def champion_uri(tracking_uri, trained_run) -> str:
    """The session's trained run promoted under a model name of its own: `models:/<name>@champion`."""
    from registry.transitions import promote

    name = f"tagifai-{uuid.uuid4().hex[:10]}"
    promote("tests-train", name, run_id=trained_run.run_id, force=True)  # serving tests, not the promotion gate
    return f"models:/{name}@champion"


# Credential-like variables in the shared server's environment: nothing it sends or logs may contain the value.
SERVER_SECRET = f"ZQXSECRET{uuid.uuid4().hex[:10]}"
SECRET_VARIABLES = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "AWS_SECRET_ACCESS_KEY")


@pytest.fixture(scope="session")
def server_secret() -> str:
    return SERVER_SECRET


@pytest.fixture(scope="session")
def hardened_server(start_server, champion_uri):
    """One `tagifai serve` (default limits, one worker) shared by the bad-input, fuzz and hardening tests,
    with credential-like variables (`server_secret`) in its environment."""
    with start_server(champion_uri, env={name: SERVER_SECRET for name in SECRET_VARIABLES}) as running:
        yield running



@pytest.fixture(scope="module")
def registry(tracking_uri, trained_run, other_trained_run) -> dict:
    """Per test module, a registered model of its own with versions 1 (champion) and 2 (serving_registry.py)."""
    from serving_registry import two_versions

    return two_versions(trained_run, other_trained_run)


@pytest.fixture(scope="session")
def tagifai_cli(tracking_uri):
    """`tagifai_cli(*args)`: the real CLI as a subprocess on the session's store; it must succeed."""
    env = {**env_without_venv(), "MLFLOW_TRACKING_URI": tracking_uri}

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([str(BIN_DIR / "tagifai"), *args], env=env, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    return run


@pytest.fixture
def pg_log():
    """A throw-away PostgreSQL database for an inference log: (its URL, its name); dropped afterwards."""
    from sqlalchemy.engine import make_url

    from harness.postgres import create_database
    from inference_log_reading import pg_admin_url

    try:
        url, drop = create_database(pg_admin_url(), "tagifai_log", driver="postgresql+psycopg2")
    except Exception as exc:  # noqa: BLE001 - psycopg2.OperationalError: the server is not up
        pytest.fail(f"PostgreSQL is not reachable at {pg_admin_url()}: {' '.join(str(exc).split())}", pytrace=False)
    yield url, make_url(url).database
    drop()
