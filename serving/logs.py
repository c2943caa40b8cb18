"""Structured logs: the access log is one JSON object per line on stderr."""

from __future__ import annotations

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
