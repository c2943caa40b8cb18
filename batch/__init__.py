"""Batch serving: score a finite set of inputs ahead of time with Spark, keep the predictions in a store,
answer look-ups from it and say when they are stale.

One module per concern:
  inputs   read-side rules: input layout, id and text normalisation, reasons a row is rejected (pure pandas)
  models   which registered model version a URI means right now
  spark    the Spark session and reading the input files
  scoring  the Spark plan: rejects, `mlflow.pyfunc.spark_udf` scoring, Parquet outputs, progress
  store    the SQLAlchemy prediction store: staging table, then one upsert transaction
  lookup   the request-path look-up and staleness
  job      orchestration, recorded as an MLflow run
  submit   the `spark-submit` entry point (cluster form)
"""
