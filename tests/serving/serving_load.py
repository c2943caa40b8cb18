"""Load for tests against a real server: CLIENTS threads, each with its own keep-alive connection."""

from __future__ import annotations

import threading
import time

import httpx

SMALL = {"inputs": {"text": ["Transfer learning with transformers for text classification."] * 5}}
CLIENTS = 8


class Load:
    """CLIENTS threads, each with its own keep-alive connection, posting SMALL until stopped."""

    def __init__(self, url: str):
        self.url, self.stop = url, threading.Event()
        self.ok: list[float] = []
        self.versions: list[tuple[float, str]] = []  # (when, X-Model-Version) of every answer
        self.errors: list[tuple[float, str]] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _run(self):
        with httpx.Client(base_url=self.url, timeout=60) as client:
            for _ in range(100_000):  # bounded
                if self.stop.is_set():
                    return
                try:
                    response = client.post("/invocations", json=SMALL)
                    if response.status_code == 200:
                        self.ok.append(time.monotonic())
                        self.versions.append((self.ok[-1], response.headers.get("x-model-version", "")))
                    else:
                        self.errors.append((time.monotonic(), f"HTTP {response.status_code}"))
                except httpx.HTTPError as exc:
                    self.errors.append((time.monotonic(), type(exc).__name__))
                    time.sleep(0.05)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=90)
