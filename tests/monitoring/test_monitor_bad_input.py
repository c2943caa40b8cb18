"""Bad input to `tagifai monitor`: exit 2 and one `error:` line naming what is wrong, never a traceback."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.inference_rows import hours_ago, in_distribution, insert_rows, register_profiled_version

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Setup:
    name: str
    log: str
    folder: Path


@pytest.fixture(scope="module")
def setup(tracking_uri, profile, tmp_path_factory) -> Setup:
    """A champion with a profile and 50 rows logged 2 hours ago; a version `old` without a profile; files."""
    folder = tmp_path_factory.mktemp("monitor-bad-input")
    name = f"tagifai-bad-{uuid.uuid4().hex[:8]}"
    version = register_profiled_version(name, profile)
    register_profiled_version(name, None, alias="old")
    log = f"sqlite:///{folder / 'inference.db'}"
    rows = in_distribution(profile, 50, name, version, logged_at=hours_ago(2))
    insert_rows(log, [rows])
    (folder / "garbage.db").write_bytes(b"this is not a database" * 100)
    sqlite3.connect(folder / "other.db").execute("CREATE TABLE t (x)").connection.close()
    (folder / "no_tag.csv").write_text("request_id,label\nr1,mlops\n")
    (folder / "no_key.csv").write_text("id,tag\nr1,mlops\n")
    (folder / "no_join.csv").write_text("request_id,tag\nnot-logged,mlops\n")
    return Setup(name, log, folder)


CASES = {
    "unknown model": (["--model-uri", "models:/no-such-model@champion"], "does not resolve to a model version"),
    "not a registry uri": (["--model-uri", "runs:/abc/model"], "is not a registered-model URI"),
    "no profile": (["--model-uri", "models:/{name}@old"], "has no reference profile"),
    "empty window": (["--since", "30m"], "no rows in the inference log"),
    "bad since": (["--since", "yesterday"], "--since must be a positive duration"),
    "bad role": (["--role", "shadow"], "--role must be one of champion, challenger"),
    "missing log": (["--inference-log", "sqlite:///{folder}/absent.db"], "does not exist (no such file)"),
    "unreadable log": (["--inference-log", "sqlite:///{folder}/garbage.db"], "cannot be read: file is not a database"),
    "no table": (["--inference-log", "sqlite:///{folder}/other.db"], "has no inference_log table"),
    "log turned off": (["--inference-log", "none"], "there is no log to monitor"),
    "labels without tag": (["--labels", "{folder}/no_tag.csv"], "has no `tag` column"),
    "labels without key": (["--labels", "{folder}/no_key.csv"], "needs a `request_id` or a `text` column"),
    "labels that join nothing": (["--labels", "{folder}/no_join.csv"], "none of its 1 rows joins"),
    "unknown threshold": (["--threshold", "psy=0.3"], "--threshold takes NAME=NUMBER"),
    "threshold not a number": (["--threshold", "psi=high"], "--threshold psi must be a number"),
    "bad prune age": (["--prune-older-than", "soon"], "--prune-older-than must be a positive duration"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_a_message(setup, monitor_cli, case):
    extra, message = CASES[case]
    extra = [a.format(name=setup.name, folder=setup.folder) for a in extra]
    defaults = {"--inference-log": setup.log, "--model-uri": f"models:/{setup.name}@champion"}
    given = [a for pair in ((k, v) for k, v in defaults.items() if k not in extra) for a in pair]
    if "--role" in extra:
        given = given[:2]  # --role alone: the URI would follow it
    done = monitor_cli(*given, *extra)
    assert done.code == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
