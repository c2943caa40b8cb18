"""What each worker serves and last tried, in one small JSON file per worker in a folder they share, so that
GET /models gives the same answer whichever worker a client reaches."""

from __future__ import annotations

import json
import os
from pathlib import Path


class StatusBoard:
    """One worker's file for one role (champion or challenger)."""

    def __init__(self, directory: str | Path, worker: int, role: str = "champion"):
        self.directory, self.worker, self.role = Path(directory), worker, role

    def publish(self, state: dict) -> None:
        """This worker's state, replaced atomically (a reader never sees half a file)."""
        path = self.directory / f"{self.role}-{self.worker}.json"
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"worker": self.worker, "pid": os.getpid(), "role": self.role, **state}))
        os.replace(temporary, path)

    def read_all(self) -> list[dict]:
        states = []
        for path in sorted(self.directory.glob("*-*.json")):
            try:
                states.append(json.loads(path.read_text()))
            except (OSError, ValueError):  # replaced between glob and read: the next request sees it
                continue
        return sorted(states, key=lambda s: (s["worker"], s.get("role", "champion")))


def summary(states: list[dict], target: dict, live: dict | None = None) -> dict:
    """GET /models: the versions served now by role (with how many workers serve each, and their live figures
    from `live`, keyed by (role, version)), the newest reload attempt and the registry's reachability, from
    every worker's state."""
    versions: dict[tuple[str, str], dict] = {}
    for state in states:
        served = state["serving"]
        if served is None:  # a challenger slot with nothing in it
            continue
        key = (served.get("role", "champion"), served["version"])
        entry = versions.setdefault(key, {**served, "workers": 0, **({"live": live.get(key)} if live else {})})
        entry["workers"] += 1
    attempts = [s["last_reload"] for s in states if s.get("last_reload")]
    down = [s["registry"] for s in states if s.get("registry", {}).get("reachable") is False]
    registry = min(down, key=lambda r: r["since"]) if down else {"reachable": True}
    return {
        **target,
        "models": _champion_first_newest_first(list(versions.values())),
        "last_reload": max(attempts, key=lambda a: a["at"]) if attempts else None,
        "registry": registry,
        "workers": _workers(states),
    }


def _champion_first_newest_first(models: list[dict]) -> list[dict]:
    models.sort(key=lambda v: v["loaded_at"] or "", reverse=True)
    models.sort(key=lambda v: v.get("role", "champion") != "champion")  # stable: newest first within a role
    return models


def _workers(states: list[dict]) -> list[dict]:
    """Per worker: its pid, the champion's version it serves and the challenger's (None when it has none)."""
    rows: dict[int, dict] = {}
    for state in states:
        row = rows.setdefault(state["worker"], {"worker": state["worker"], "pid": state["pid"]})
        key = "version" if state.get("role", "champion") == "champion" else "challenger_version"
        row[key] = (state["serving"] or {}).get("version")
    return [rows[w] for w in sorted(rows)]
