"""Structured logs: the access log is one JSON object per line on stderr."""

from __future__ import annotations

import asyncio
import logging
import sys
from contextvars import ContextVar

# The current request's id, for log lines written deeper down (asyncio.to_thread copies the context).
REQUEST_ID: ContextVar[str] = ContextVar("tagifai_request_id", default="-")


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("tagifai.access")
    if not access.handlers:
        access.addHandler(handler)
    access.setLevel(level)
    access.propagate = False
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


class BufferedLines:
    """Access-log lines written a batch at a time: one logging call (and one write to stderr) per FLUSH_SECONDS
    instead of one per request, which cost a worker more than parsing a one-row request. Each line is still one
    JSON object; it reaches the log at most FLUSH_SECONDS after its answer was sent (`flush()` at shutdown)."""

    FLUSH_SECONDS = 0.05
    MAX_LINES = 512  # written at once past this many, whatever the time

    def __init__(self, logger: logging.Logger):
        self.logger = logger
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) >= self.MAX_LINES:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(self.FLUSH_SECONDS, self.flush)
            except RuntimeError:  # no event loop (called from a thread): write it now
                self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._lines:
            lines, self._lines = self._lines, []
            self.logger.info("\n".join(lines))
