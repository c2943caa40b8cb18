"""Batch fixtures: a real local Spark, real SQLite and PostgreSQL stores, ~1k-row inputs resampled from the data."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import batch_test_data  # tests/batch is on sys.path (pytest's prepend import mode)
import pandas as pd
import pytest

from harness.postgres import create_database

# Admin connection used to create and drop one fresh database per test. CI (.ci/run) guarantees the server.
PG_ADMIN_URL = os.environ.get("TAGIFAI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for the whole run (starting one costs ~10 s); jobs are given it, not stopping it."""
    from batch.spark import session

    spark = session("local[2]", {"spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "4"})
    yield spark
    spark.stop()


@pytest.fixture
def pg_url():
    """A fresh database with a unique name, dropped at teardown (even if connections linger)."""
    import psycopg2

    try:
        url, drop = create_database(PG_ADMIN_URL, "tagifai_batch", driver="postgresql+psycopg2")
    except psycopg2.OperationalError as exc:
        problem = " ".join(str(exc).split())
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({problem}). The batch store tests need a real "
                    "server (trust auth): start it (.ci/run does) or point TAGIFAI_TEST_PG_URL at one.", pytrace=False)
    yield url
    drop()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'predictions.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store_url(request) -> str:
    """Each store test runs on SQLite and on a real PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def model_name(tracking_uri, trained_run) -> str:
    """The session's trained run registered and promoted under a name of this test's own."""
    from registry.transitions import promote

    name = f"tagifai-batch-{uuid.uuid4().hex[:8]}"
    promote(experiment_name="tests-train", model_name=name, run_id=trained_run.run_id, force=True)
    return name


@pytest.fixture
def promote_second(model_name, other_trained_run):
    """Call to make a second version (other arguments) the champion of `model_name`."""
    from registry.transitions import promote

    return lambda: promote(experiment_name="tests-train", model_name=model_name,
                           run_id=other_trained_run.run_id, force=True)


@dataclass(frozen=True)
class DirtyInput:
    """A ~1k-row input with known bad rows; `expected` maps id -> reason for the rejected ones."""

    path: Path
    frame: pd.DataFrame
    expected_rejects: dict[str, str]
    missing_id_rows: int

    @property
    def ids(self) -> set[str]:
        """Every input id, as the job normalises it."""
        from batch.inputs import normalise_id

        return {i for i in map(normalise_id, self.frame["id"]) if i is not None}


@pytest.fixture(scope="session")
def dirty_frame():
    return batch_test_data.dirty_frame


@pytest.fixture(scope="session")
def dirty_csv(tmp_path_factory) -> DirtyInput:
    df, expected, missing = batch_test_data.dirty_frame()
    path = tmp_path_factory.mktemp("batch-input") / "projects.csv"
    df.to_csv(path, index=False)
    return DirtyInput(path, df, expected, missing)


@pytest.fixture(scope="session")
def clean_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("batch-clean") / "projects.csv"
    batch_test_data.resampled(batch_test_data.ROWS, seed=1).to_csv(path, index=False)
    return path
