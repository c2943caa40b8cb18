"""The Spark plan: split rows into scorable and rejected, score (the model loaded once per Python worker,
batch.worker), write Parquet with the ids in the input's type."""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import mlflow
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import ByteType, DataType, IntegerType, LongType, ShortType, StringType

from batch import worker
from batch.inputs import ID, REASON, REASONS, SOURCE, TEXT, Layout, prepare_batches, reject_reasons
from batch.models import ResolvedModel
from batch.progress import ScoringProgress
from batch.spark import is_local_master

logger = logging.getLogger(__name__)

PREPARED_SCHEMA = f"{ID} string, {TEXT} string, {SOURCE} string"
# The model returns a DataFrame; a struct result type keeps the two columns we store (a plain "string"
# would silently return only the first column).
RESULT_TYPE = "predicted_tag string, confidence double"
PREDICTION_COLUMNS = ("id", "predicted_tag", "confidence", "model_name", "model_version", "scored_at")
REJECT_COLUMNS = (ID, REASON, TEXT, SOURCE)
# The model is loaded once per Python worker (batch.worker), whatever the task count; the first task in each
# worker imports MLflow and scikit-learn and loads it (docs/benchmarks.md, "Batch scoring"). Tasks of ~50k rows
# buy progress and load balance; more would only add per-task overhead.
ROWS_PER_TASK = 50_000
# Ids the job writes back in the input's own type (the store keys them by their spelling either way).
INTEGER_IDS = (ByteType, ShortType, IntegerType, LongType)


def output_id_type(input_type: DataType) -> DataType:
    """Integers stay integers, everything else is written as its normalised spelling (batch.inputs.normalise_id):
    strings stay strings, CSV ids are strings as written, a float id 7.0 is '7'."""
    return input_type if isinstance(input_type, INTEGER_IDS) else StringType()


def scoring_tasks(rows: int, parallelism: int, available: int) -> int:
    """One task per ROWS_PER_TASK rows, at least one per core, at most the partitions there are."""
    return max(1, min(available, max(parallelism, math.ceil(rows / ROWS_PER_TASK))))


@dataclass
class Split:
    """The input, each row with its reject reason (None: to score); persisted until `release`."""

    frame: DataFrame
    counts: dict[str | None, int]
    id_type: DataType = StringType()  # the type the outputs give ids (output_id_type)

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
        rejects = self.frame.filter(F.col(REASON).isNotNull()).select(*REJECT_COLUMNS)
        return rejects.withColumn(ID, F.col(ID).cast(self.id_type))

    def release(self) -> None:
        self.frame.unpersist()


def split(df: DataFrame, layout: Layout, partitions: int, id_type: DataType | None = None) -> Split:
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
    return Split(frame, counts, output_id_type(id_type or StringType()))


def ship_model(spark: SparkSession, model: ResolvedModel) -> tuple[str, bool]:
    """Download the pinned version on the driver; (where workers find it, whether it is a zip to extract).

    Local masters run their workers on this machine: they read the download itself. Elsewhere the directory is
    zipped and shipped with SparkContext.addFile (it does not take local folders), as spark_udf does."""
    local = mlflow.artifacts.download_artifacts(model.uri, dst_path=tempfile.mkdtemp(prefix="tagifai-batch-model-"))
    if is_local_master(spark.sparkContext.master):
        return local, False
    # A name of its own: SparkContext.addFile refuses a second, different file under a name it already has.
    name = f"tagifai-model-{model.name}-{model.version}-{uuid.uuid4().hex[:8]}"
    archive = shutil.make_archive(f"{tempfile.mkdtemp(prefix='tagifai-batch-zip-')}/{name}", "zip", local)
    spark.sparkContext.addFile(archive)
    return archive, True


def predictions(spark: SparkSession, rows: DataFrame, model: ResolvedModel, scored_at: datetime,
                id_type: DataType | None = None) -> DataFrame:
    """Score with the pinned version, one task per partition of `rows`, the model loaded once per Python worker."""
    source, archived = ship_model(spark, model)
    key = (mlflow.get_tracking_uri(), model.uri)
    scored = rows.select(ID, TEXT).mapInPandas(
        partial(worker.score_batches, key=key, source=source, archived=archived), schema=worker.SCORED_SCHEMA)
    return _with_identity(scored, model, scored_at, id_type)


def predictions_with_spark_udf(spark: SparkSession, rows: DataFrame, model: ResolvedModel, scored_at: datetime,
                               id_type: DataType | None = None) -> DataFrame:
    """The same with `mlflow.pyfunc.spark_udf` (what users may call on our model; the benchmark's "before")."""
    udf = mlflow.pyfunc.spark_udf(spark, model.uri, result_type=RESULT_TYPE, env_manager="local")
    scored = rows.withColumn("_p", udf(F.col(TEXT))).select(
        ID, F.col("_p.predicted_tag").alias("predicted_tag"), F.col("_p.confidence").alias("confidence"))
    return _with_identity(scored, model, scored_at, id_type)


def _with_identity(scored: DataFrame, model: ResolvedModel, scored_at: datetime,
                   id_type: DataType | None) -> DataFrame:
    return scored.select(
        F.col(ID).cast(id_type or StringType()).alias("id"),
        F.col("predicted_tag"),
        F.col("confidence"),
        F.lit(model.name).alias("model_name"),
        F.lit(model.version).cast("int").alias("model_version"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"),
    )


SCORERS = {"worker_cache": predictions, "spark_udf": predictions_with_spark_udf}


def write_rejects(data: Split, path: str) -> None:
    data.rejects().coalesce(1).write.mode("overwrite").parquet(path)


def write_predictions(spark: SparkSession, data: Split, model: ResolvedModel, path: str, scored_at: datetime,
                      tasks: int | None = None, progress_interval: float = 5.0, scorer: str = "worker_cache") -> None:
    """Score (in `tasks` tasks) and write. Progress (rows, rate) is logged while it runs."""
    frame = SCORERS[scorer](spark, data.to_score(tasks), model, scored_at, data.id_type)
    with ScoringProgress(spark.sparkContext, data.rows_to_score, progress_interval):
        frame.write.mode("overwrite").parquet(path)


def iter_written(spark: SparkSession, path: str, chunk_rows: int = 20_000) -> Iterator[list[dict]]:
    """The predictions as written, in chunks of dicts, ids as the store keys them (their spelling: 42 -> '42').
    One part file at a time through Arrow, so the driver never holds more than one task's output (and Row
    objects, ~10x slower, are never built)."""
    columns = [F.col(ID).cast("string").alias(ID), *PREDICTION_COLUMNS[1:]]
    for file in sorted(spark.read.parquet(path).inputFiles()):
        table = spark.read.parquet(file).select(*columns).toArrow()
        for batch in table.to_batches(max_chunksize=chunk_rows):
            yield batch.to_pylist()
