"""Reading what a real server logged: the inference log's rows (through monitoring.schema) and its Prometheus
counters and gauges (GET /metrics, parsed by prometheus_client's own parser), waited for where they lag."""

from __future__ import annotations

import os

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

from harness.ports import wait_for
from monitoring.schema import engine, inference_log


def log_rows(url: str) -> list[dict]:
    """Every row, in insertion order ([] while the table does not exist yet)."""
    eng = engine(url)
    try:
        with eng.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(select(inference_log).order_by(inference_log.c.id))]
    except (OperationalError, ProgrammingError):  # no table yet: the writer creates it with its first batch
        return []
    finally:
        eng.dispose()


def wait_rows(url: str, count: int, timeout: float = 30.0, **where) -> list[dict]:
    """Once the log holds `count` rows matching `where` (column=value): those rows."""
    def matching() -> list[dict] | None:
        rows = [r for r in log_rows(url) if all(r[k] == v for k, v in where.items())]
        return rows if len(rows) >= count else None

    return wait_for(matching, timeout, f"{count} logged rows with {where or 'any values'}", interval=0.2)


def metric(server, name: str, **labels) -> float:
    """The sum of the samples of `name` (e.g. tagifai_inference_log_written_total) whose labels include
    `labels`, over every worker."""
    total = 0.0
    for family in text_string_to_metric_families(server.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def log_counts(server) -> dict[str, float]:
    """Rows scored by /invocations, and the log's written / dropped / failed rows (champion)."""
    names = {"scored": "tagifai_rows_scored_total", "written": "tagifai_inference_log_written_total",
             "dropped": "tagifai_inference_log_dropped_total", "failed": "tagifai_inference_log_failed_total"}
    return {key: metric(server, name, role="champion") for key, name in names.items()}


def pg_admin_url() -> str:
    """The PostgreSQL admin login throw-away databases are made with (the batch tests' variable)."""
    return os.environ.get("TAGIFAI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
