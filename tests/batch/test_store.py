"""The prediction store on real SQLite and real PostgreSQL: upsert, idempotence, all-or-nothing commits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select

from batch import store
from batch.errors import StoreError

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def rows(n: int, version: int = 1, tag: str = "mlops", name: str = "m", when: datetime = T0) -> list[dict]:
    return [{"id": str(i), "model_name": name, "model_version": version, "predicted_tag": tag,
             "confidence": 0.5 + i / (2 * n), "scored_at": when} for i in range(n)]


def publish(eng, batch: list[dict], run_id: str = "run", before_commit=None, chunk: int = 40) -> int:
    with store.Publication(eng, run_id) as publication:
        for start in range(0, len(batch), chunk):
            publication.load(batch[start:start + chunk])
        return publication.publish(before_commit)


def snapshot(eng) -> list[tuple]:
    with eng.connect() as conn:
        t = store.predictions
        return [tuple(r) for r in conn.execute(select(t).order_by(t.c.model_name, t.c.model_version, t.c.id))]


def staging_tables(eng) -> list[str]:
    return [name for name in inspect(eng).get_table_names() if name.startswith("predictions_staging")]


@pytest.fixture
def eng(store_url):
    engine = store.engine(store_url)
    yield engine
    engine.dispose()


def test_publish_writes_every_row_once_keyed_by_id_name_version(eng):
    assert publish(eng, rows(100)) == 100
    assert store.count(eng) == 100
    assert publish(eng, rows(100, version=2, tag="other")) == 100
    assert store.count(eng, "m") == 200 and store.count(eng, "m", 1) == 100
    assert staging_tables(eng) == []
    first = snapshot(eng)[0]
    assert first[:4] == ("0", "m", 1, "mlops")
    assert first[5] == T0.replace(tzinfo=None)  # stored as naive UTC
    assert first[6] == "run"


def test_republishing_the_same_rows_is_idempotent(eng):
    publish(eng, rows(100))
    before = snapshot(eng)
    publish(eng, rows(100))
    assert snapshot(eng) == before


def test_a_rerun_overwrites_the_same_keys_and_keeps_the_others(eng):
    publish(eng, rows(100))
    later = T0 + timedelta(hours=1)
    publish(eng, rows(50, tag="computer-vision", when=later), run_id="run2")
    data = snapshot(eng)
    assert len(data) == 100
    assert {r[3] for r in data if int(r[0]) < 50} == {"computer-vision"}
    assert {r[3] for r in data if int(r[0]) >= 50} == {"mlops"}
    assert {r[6] for r in data if int(r[0]) < 50} == {"run2"}


def test_a_failure_inside_the_transaction_leaves_the_store_as_it_was(eng):
    publish(eng, rows(100))
    before = snapshot(eng)

    def boom():
        raise RuntimeError("injected between the upsert and the commit")

    with pytest.raises(RuntimeError, match="injected"):
        publish(eng, rows(300, tag="other", when=T0 + timedelta(days=1)), before_commit=boom)
    assert snapshot(eng) == before
    assert staging_tables(eng) == []


def test_a_failure_while_loading_staging_leaves_the_store_as_it_was(eng):
    publish(eng, rows(10))
    before = snapshot(eng)
    bad = rows(100, tag="other")
    bad[70]["predicted_tag"] = None  # NOT NULL: the load of the second chunk fails
    with pytest.raises(Exception):
        publish(eng, bad)
    assert snapshot(eng) == before
    assert staging_tables(eng) == []


def test_publishing_nothing_is_fine(eng):
    assert publish(eng, []) == 0
    assert store.count(eng) == 0


def test_password_never_reaches_logs():
    assert store.redact("postgresql://alice:s3cret@db:5432/preds") == "postgresql://alice:***@db:5432/preds"


def test_unreachable_postgres_is_a_clear_store_error():
    eng = store.engine("postgresql+psycopg2://postgres@127.0.0.1:1/nothing")
    with pytest.raises(StoreError, match="cannot be used: .*127.0.0.1"):
        store.ensure_table(eng)


def test_only_sqlite_and_postgresql_are_supported():
    with pytest.raises(StoreError, match="not usable|only sqlite and postgresql"):
        store.engine("mysql://u@h/db")


def test_a_reader_does_not_create_a_missing_sqlite_file(tmp_path):
    path = tmp_path / "absent.db"
    with pytest.raises(StoreError, match="does not exist"):
        store.engine(f"sqlite:///{path}", must_exist=True)
    assert not path.exists()
