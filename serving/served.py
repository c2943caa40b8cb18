"""The version being served, and the slot a swap replaces it in.

A request takes `slot.current` once, when it arrives, and uses that object to the end: its answer, its
X-Model-Version header, its metric labels and the /args or /performance it reads all come from one version,
whatever a swap does meanwhile. Replacing the attribute is atomic, so there is nothing to lock on the request
path; the old version is freed when its last request lets go of it.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from serving.scoring import Scorer


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    version: str


@dataclass(frozen=True)
class RunMetadata:
    """What the version's run recorded (read once at load): its params and performance.json, or why not."""

    args: dict[str, Any] | None = None
    performance: dict | None = None
    missing: str = ""  # why args or performance are absent


@dataclass(frozen=True)
class ServedVersion:
    identity: ModelIdentity
    scorer: Scorer
    run_id: str | None = None
    pointer: str | None = None  # the alias or stage it was found under; None for a fixed version
    role: str = "champion"  # or "challenger"
    metadata: RunMetadata = RunMetadata()
    loaded_at: float = field(default_factory=time.time)

    # Cached: the middleware reads both on every request (cached_property writes the instance's __dict__, which a
    # frozen dataclass allows).
    @cached_property
    def labels(self) -> dict[str, str]:
        return {"model_name": self.identity.name, "model_version": self.identity.version, "role": self.role}

    @cached_property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"x-model-name", self.identity.name.encode()), (b"x-model-version", self.identity.version.encode()),
                (b"x-model-role", self.role.encode())]

    def describe(self) -> dict:
        """This version as GET /models shows it."""
        return {"name": self.identity.name, "version": self.identity.version, "role": self.role,
                "alias": self.pointer, "run_id": self.run_id, "loaded_at": iso(self.loaded_at)}


class ModelSlot:
    """Holds the served version (a challenger's slot may be empty); `swap` replaces it for every request that
    arrives afterwards."""

    def __init__(self, served: ServedVersion | None):
        self.current = served

    @property
    def version(self) -> str | None:
        return None if self.current is None else self.current.identity.version

    def swap(self, served: ServedVersion | None) -> ServedVersion | None:
        old, self.current = self.current, served
        return old


# The version the current request is answered by, set by the middleware (asyncio.to_thread copies the context).
SERVED: ContextVar[ServedVersion] = ContextVar("tagifai_served_version")


def iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
