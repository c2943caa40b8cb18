"""Serialise registry transitions from processes on this machine.

MLflow has no compare-and-set on aliases, so two promotions interleaving could each read the same
champion. A file lock per tracking store orders them; across machines the alias stays single-valued
anyway and `mirror_stages` re-derives the stages from it.
"""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def registry_lock(tracking_uri: str, model_name: str) -> Iterator[None]:
    key = hashlib.sha256(f"{tracking_uri}|{model_name}".encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"tagifai-registry-{key}.lock"
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
