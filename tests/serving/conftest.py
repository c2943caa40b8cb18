"""Start real scoring servers for tests: a free port, a process group, a readiness poll, a clean kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

BIN_DIR = Path(sys.executable).parent
START_TIMEOUT = 60.0


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it; the tiny reuse race is acceptable in tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env_without_venv() -> dict[str, str]:
    """This environment with the venv's bin removed from PATH, like a shell where the venv is not activated."""
    env = dict(os.environ)
    bin_dir = BIN_DIR.resolve()
    kept = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != bin_dir]
    env["PATH"] = os.pathsep.join(kept or ["/usr/bin", "/bin"])
    return env


def env_with_venv() -> dict[str, str]:
    env = env_without_venv()
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env['PATH']}"
    return env


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post(self, body, content_type: str = "application/json", **kwargs) -> httpx.Response:
        """POST /invocations; `body` is sent as JSON unless it is already str/bytes."""
        if isinstance(body, (str, bytes)):
            return httpx.post(f"{self.url}/invocations", content=body, headers={"Content-Type": content_type},
                              timeout=30, **kwargs)
        return httpx.post(f"{self.url}/invocations", json=body, timeout=30, **kwargs)


def _stop(process: subprocess.Popen) -> None:
    """Kill the whole group: `tagifai serve` -> mlflow -> bash -> uvicorn (and its workers)."""
    if process.poll() is None or _group_alive(process.pid):
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            deadline = time.monotonic() + wait
            while _group_alive(process.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not _group_alive(process.pid):
                break
    if process.poll() is None:
        process.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until_ready(url: str, process: subprocess.Popen, log_path: Path, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before /ping answered:\n"
                               f"{log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"no answer on {url}/ping within {timeout:.0f}s:\n{log_path.read_text(errors='replace')}")


@contextmanager
def running_server(command: list[str], port: int, env: dict[str, str], log_dir: Path,
                   timeout: float = START_TIMEOUT) -> Iterator[Server]:
    """Start `command` (which must listen on 127.0.0.1:`port`) in its own session; yield once /ping is 200."""
    log_path = log_dir / f"server-{port}-{uuid.uuid4().hex[:6]}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, log_path, timeout)
        yield Server(url, process, log_path)
    finally:
        _stop(process)


def tagifai_serve_command(model_uri: str, port: int) -> list[str]:
    return [str(BIN_DIR / "tagifai"), "serve", "--model-uri", model_uri, "--host", "127.0.0.1", "--port", str(port)]


def mlflow_serve_command(model_uri: str, port: int) -> list[str]:
    return [str(BIN_DIR / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
            "--host", "127.0.0.1", "--port", str(port)]


@pytest.fixture(scope="session")
def server_log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server-logs")
