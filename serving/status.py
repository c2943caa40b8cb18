"""What each worker serves and last tried, in one small JSON file per worker in a folder they share, so that
GET /models gives the same answer whichever worker a client reaches."""

from __future__ import annotations

import json
import os
from pathlib import Path


class StatusBoard:
    def __init__(self, directory: str | Path, worker: int):
        self.directory, self.worker = Path(directory), worker

    def publish(self, state: dict) -> None:
        """This worker's state, replaced atomically (a reader never sees half a file)."""
        path = self.directory / f"worker-{self.worker}.json"
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"worker": self.worker, "pid": os.getpid(), **state}))
        os.replace(temporary, path)

    def read_all(self) -> list[dict]:
        states = []
        for path in sorted(self.directory.glob("worker-*.json")):
            try:
                states.append(json.loads(path.read_text()))
            except (OSError, ValueError):  # replaced between glob and read: the next request sees it
                continue
        return sorted(states, key=lambda s: s["worker"])


def summary(states: list[dict], target: dict) -> dict:
    """GET /models: the versions served now (with how many workers serve each), the newest reload attempt and
    the registry's reachability, from every worker's state."""
    versions: dict[str, dict] = {}
    for state in states:
        served = state["serving"]
        entry = versions.setdefault(served["version"], {**served, "workers": 0})
        entry["workers"] += 1
    attempts = [s["last_reload"] for s in states if s.get("last_reload")]
    down = [s["registry"] for s in states if s.get("registry", {}).get("reachable") is False]
    registry = min(down, key=lambda r: r["since"]) if down else {"reachable": True}
    return {
        **target,
        "models": sorted(versions.values(), key=lambda v: v["loaded_at"] or "", reverse=True),
        "last_reload": max(attempts, key=lambda a: a["at"]) if attempts else None,
        "registry": registry,
        "workers": [{"worker": s["worker"], "pid": s["pid"], "version": s["serving"]["version"]} for s in states],
    }
