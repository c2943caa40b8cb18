"""The Spark session and reading the input: the only place that knows Spark's knobs."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from batch.inputs import CSV, ID, SOURCE, Layout

logger = logging.getLogger(__name__)

APP_NAME = "tagifai-batch"
# Modest on purpose: the machines we run on are shared. `spark-submit --conf` or `--spark-conf` override.
DEFAULT_CONF = {
    "spark.driver.memory": "1g",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",  # progress is logged by batch.scoring instead
}
# Local mode only (the driver JVM is the executor): a batch job is a few minutes of mostly Python work, and
# HotSpot's optimising (C2) JIT compiled for most of the JVM's CPU time in it (measured: ~40 of ~75 JVM CPU-s
# on 200k rows, on a 2-core machine where that CPU is taken from the Python workers). C1 only halves the JVM's
# CPU (docs/benchmarks.md, "Batch scoring"). Given in `conf`, the caller's value wins.
LOCAL_CONF = {
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
}


def is_local_master(master: str | None) -> bool:
    return bool(master) and master.startswith("local")


def session(master: str | None = None, conf: Mapping[str, str] | None = None) -> SparkSession:
    """A session for the job. `master=None` means "as configured by spark-submit" (the cluster form).

    In local mode the Python workers are children of this process and must use its interpreter: left to
    themselves they run `python3` from PATH, which lacks pandas ("No module named 'pandas'").
    """
    if is_local_master(master):
        os.environ["PYSPARK_PYTHON"] = sys.executable
    builder = SparkSession.builder.appName(APP_NAME)
    if master:
        builder = builder.master(master)
    local = LOCAL_CONF if is_local_master(master) else {}
    for key, value in {**DEFAULT_CONF, **local, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    logger.info("spark %s on %s (default parallelism %d)", spark.version, spark.sparkContext.master,
                spark.sparkContext.defaultParallelism)
    return spark


def read_input(spark: SparkSession, path: str, fmt: str) -> DataFrame:
    """Every column as Spark read it, plus `source` (the file a row came from)."""
    if fmt == CSV:
        # Descriptions span lines and quotes are doubled (RFC 4180, as pandas writes them). Everything is read
        # as a string, so ids keep their exact spelling; malformed lines become nulls, then rejects.
        reader = spark.read.options(header=True, multiLine=True, escape='"', mode="PERMISSIVE", encoding="UTF-8")
        df = reader.csv(path)
    else:
        df = spark.read.parquet(path)
    return df.withColumn(SOURCE, F.col("_metadata.file_path"))


def select_layout(df: DataFrame, layout: Layout) -> DataFrame:
    """Only the columns the rules need, as strings (a float id stays float: batch.inputs makes 7.0 -> '7')."""
    id_type = df.schema[ID].dataType
    id_col = F.col(ID) if isinstance(id_type, (T.FloatType, T.DoubleType)) else F.col(ID).cast("string")
    texts = [F.col(c).cast("string").alias(c) for c in layout.text_columns]
    return df.select(id_col.alias(ID), *texts, F.col(SOURCE))

