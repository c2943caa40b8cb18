"""The prediction store takes the URI users type: a plain postgresql:// (SQLAlchemy 2.1 alone would load psycopg 3,
which is not installed) works on the real PostgreSQL, through tagifai.config.database_uri."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from batch import store
from tagifai import config


def plain(url: str) -> str:
    """The fixture's database as a user writes it: no driver."""
    scheme, _, rest = url.partition("://")
    assert scheme == "postgresql+psycopg2"
    return f"postgresql://{rest}"


def one_row() -> dict:
    return {"id": "1", "model_name": "m", "model_version": 1, "predicted_tag": "mlops", "confidence": 0.9,
            "scored_at": datetime(2026, 1, 2, tzinfo=timezone.utc)}


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_plain_postgresql_uri_stores_and_reads_predictions(pg_url, scheme):
    url = plain(pg_url).replace("postgresql://", f"{scheme}://", 1)
    eng = store.engine(url)
    try:
        assert eng.dialect.name == "postgresql" and eng.dialect.driver == "psycopg2"
        with store.Publication(eng, "run") as publication:
            publication.load([one_row()])
            assert publication.publish() == 1
        assert store.count(eng, "m", 1) == 1
    finally:
        eng.dispose()


@pytest.mark.slow
def test_the_store_url_from_the_environment_too(pg_url, monkeypatch):
    monkeypatch.setenv("TAGIFAI_STORE_URL", plain(pg_url))
    eng = store.engine(config.store_url())
    try:
        store.ensure_table(eng)
        assert store.has_table(eng) and store.count(eng) == 0
    finally:
        eng.dispose()


def test_sqlite_store_urls_are_given_as_written(tmp_path):
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    eng = store.engine(url)
    assert eng.url.render_as_string() == url
    eng.dispose()
