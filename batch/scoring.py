"""The Spark plan: split rows into scorable and rejected, score with `mlflow.pyfunc.spark_udf`, write Parquet."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import mlflow
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType

from batch.inputs import ID, REASON, REASONS, SOURCE, TEXT, Layout, prepare_batches, reject_reasons
from batch.models import ResolvedModel
from batch.progress import ScoringProgress

logger = logging.getLogger(__name__)

PREPARED_SCHEMA = f"{ID} string, {TEXT} string, {SOURCE} string"
# The model returns a DataFrame; a struct result type keeps the two columns we store (a plain "string"
# would silently return only the first column).
RESULT_TYPE = "predicted_tag string, confidence double"
PREDICTION_COLUMNS = ("id", "predicted_tag", "confidence", "model_name", "model_version", "scored_at")
REJECT_COLUMNS = (ID, REASON, TEXT, SOURCE)
# In local mode MLflow loads the model again in every task (spark_udf does not use its SparkModelCache there).
# In a reused Python worker that reload is ~0.1 CPU-s; the first task in each worker also imports MLflow and
# scikit-learn (~5 CPU-s, once per worker whatever the task count: docs/benchmarks.md, "Batch scoring"). Tasks
# of ~50k rows keep reloads negligible; more tasks than cores buy finer progress and load balance.
ROWS_PER_TASK = 50_000


def scoring_tasks(rows: int, parallelism: int, available: int) -> int:
    """One task per ROWS_PER_TASK rows, at least one per core, at most the partitions there are."""
    return max(1, min(available, max(parallelism, math.ceil(rows / ROWS_PER_TASK))))


@dataclass
class Split:
    """The input, each row with its reject reason (None: to score); persisted until `release`."""

    frame: DataFrame
    counts: dict[str | None, int]

    @property
    def rows_in(self) -> int:
        return sum(self.counts.values())

    @property
    def rows_to_score(self) -> int:
        return self.counts.get(None, 0)

    @property
    def rejected(self) -> dict[str, int]:
        return {reason: self.counts.get(reason, 0) for reason in REASONS}

    def to_score(self, tasks: int | None = None) -> DataFrame:
        """The rows to score, in `tasks` partitions (merged without a shuffle) or as split."""
        rows = self.frame.filter(F.col(REASON).isNull()).select(ID, TEXT)
        return rows.coalesce(tasks) if tasks else rows

    def rejects(self) -> DataFrame:
        return self.frame.filter(F.col(REASON).isNotNull()).select(*REJECT_COLUMNS)

    def release(self) -> None:
        self.frame.unpersist()


def split(df: DataFrame, layout: Layout, partitions: int) -> Split:
    """Normalise ids and texts (batch.inputs, per Arrow batch), count each id across the whole input, and
    give every row one reason or none.

    Hash-partitioned by id into `partitions` (the window needs rows of an id together; this also spreads the
    scoring evenly over the cores) and persisted: rejects and scoring then read it without a shuffle.
    """
    prepared = df.mapInPandas(partial(prepare_batches, layout=layout), schema=PREPARED_SCHEMA)
    counted = prepared.repartition(partitions, ID).withColumn(
        "_id_count", F.count(F.col(ID)).over(Window.partitionBy(ID))
    )
    # Wraps batch.inputs' own function: workers then import only that light module, not this one (mlflow).
    reasons = pandas_udf(reject_reasons, StringType())
    annotated = counted.withColumn(REASON, reasons(F.col(ID), F.col(TEXT).isNull(), F.col("_id_count")))
    frame = annotated.drop("_id_count").persist(StorageLevel.MEMORY_AND_DISK)
    counts = {row[REASON]: row["count"] for row in frame.groupBy(REASON).count().collect()}
    return Split(frame, counts)


def predictions(spark: SparkSession, rows: DataFrame, model: ResolvedModel, scored_at: datetime) -> DataFrame:
    """Score with the pinned version, one task per partition of `rows`."""
    udf = mlflow.pyfunc.spark_udf(spark, model.uri, result_type=RESULT_TYPE, env_manager="local")
    scored = rows.withColumn("_p", udf(F.col(TEXT)))
    return scored.select(
        F.col(ID).alias("id"),
        F.col("_p.predicted_tag").alias("predicted_tag"),
        F.col("_p.confidence").alias("confidence"),
        F.lit(model.name).alias("model_name"),
        F.lit(model.version).cast("int").alias("model_version"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"),
    )


def write_rejects(data: Split, path: str) -> None:
    data.rejects().coalesce(1).write.mode("overwrite").parquet(path)


def write_predictions(spark: SparkSession, data: Split, model: ResolvedModel, path: str, scored_at: datetime,
                      tasks: int | None = None, progress_interval: float = 5.0) -> None:
    """Score (in `tasks` tasks) and write. Progress (rows, rate) is logged while it runs."""
    frame = predictions(spark, data.to_score(tasks), model, scored_at)
    with ScoringProgress(spark.sparkContext, data.rows_to_score, progress_interval):
        frame.write.mode("overwrite").parquet(path)


def iter_written(spark: SparkSession, path: str, chunk_rows: int = 20_000) -> Iterator[list[dict]]:
    """The predictions as written, in chunks of dicts. One part file at a time through Arrow, so the driver
    never holds more than one task's output (and Row objects, ~10x slower, are never built)."""
    for file in sorted(spark.read.parquet(path).inputFiles()):
        table = spark.read.parquet(file).select(*PREDICTION_COLUMNS).toArrow()
        for batch in table.to_batches(max_chunksize=chunk_rows):
            yield batch.to_pylist()
