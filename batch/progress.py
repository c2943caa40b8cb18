"""Rows scored and rate, logged while a Spark job runs.

Read from Spark's status tracker (tasks completed in the job's last stage), so the scoring itself is not
touched: rows done is estimated as rows x completed tasks / tasks, exact at the end.
"""

from __future__ import annotations

import logging
import threading
import time

from pyspark import SparkContext

logger = logging.getLogger(__name__)


class ScoringProgress:
    """Context manager: sets a job group, and logs progress of the jobs in it every `interval` seconds."""

    def __init__(self, sc: SparkContext, total_rows: int, interval: float = 5.0, group: str = "tagifai-scoring"):
        self.sc, self.total_rows, self.interval, self.group = sc, total_rows, interval, group
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tagifai-progress", daemon=True)
        self.started = self.elapsed = 0.0

    def __enter__(self) -> ScoringProgress:
        self.sc.setJobGroup(self.group, f"tagifai batch scoring of {self.total_rows} rows")
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)
        self.elapsed = time.perf_counter() - self.started
        if exc_type is None:
            logger.info("scored %d rows in %.1f s (%.0f rows/s)", self.total_rows, self.elapsed, self.rate)
        self.sc.setLocalProperty("spark.jobGroup.id", None)  # later jobs are not ours
        self.sc.setLocalProperty("spark.job.description", None)

    @property
    def rate(self) -> float:
        return self.total_rows / self.elapsed if self.elapsed > 0 else 0.0

    def fraction_done(self) -> float:
        """Completed / total tasks of the last stage of our jobs (the one that scores and writes)."""
        tracker = self.sc.statusTracker()
        stages = []
        for job_id in tracker.getJobIdsForGroup(self.group):
            info = tracker.getJobInfo(job_id)
            if info is not None:
                stages.extend(info.stageIds)
        for stage_id in sorted(stages, reverse=True):
            stage = tracker.getStageInfo(stage_id)
            if stage is not None and stage.numTasks:
                return stage.numCompletedTasks / stage.numTasks
            return 0.0  # the last stage is not submitted yet
        return 0.0

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                done = int(self.total_rows * self.fraction_done())
            except Exception as exc:  # progress must never break the job
                logger.debug("progress unavailable: %s", exc)
                continue
            seconds = time.perf_counter() - self.started
            logger.info("scoring: ~%d/%d rows (%.0f%%) after %.0f s, ~%.0f rows/s", done, self.total_rows,
                        100 * done / max(self.total_rows, 1), seconds, done / seconds if seconds else 0.0)
