"""How the job sizes its scoring tasks (pure function, fast)."""

from __future__ import annotations

import pytest

from batch.scoring import scoring_tasks


@pytest.mark.parametrize("rows, parallelism, available, expected", [
    (1_000, 2, 8, 2),          # small input: one task per core, not one per partition (a model load each)
    (200_000, 2, 8, 4),        # ~50k rows a task
    (10_000_000, 2, 8, 8),     # never more tasks than partitions (coalesce cannot add any)
    (0, 2, 8, 2),
    (5_000_000, 64, 256, 100),
])
def test_scoring_tasks_amortise_the_model_load_and_use_every_core(rows, parallelism, available, expected):
    assert scoring_tasks(rows, parallelism, available) == expected
