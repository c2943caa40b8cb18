"""The whole job on a real local[2] Spark, real stores and a real registry (~1k rows per input)."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from sqlalchemy import inspect, select

from batch import store
from batch.errors import BatchInputError
from batch.inputs import MISSING_ID, REASON
from batch.job import run_job
from batch.lookup import FRESH, STALE, PredictionLookup
from batch.scoring import PREDICTION_COLUMNS, REJECT_COLUMNS
from registry.versions import best_run
from tagifai import config
from registry.errors import RegistryError

from batch_test_data import resampled

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def champion(name: str) -> str:
    return f"models:/{name}@champion"


def snapshot(url: str) -> list[tuple]:
    eng = store.engine(url)
    t = store.predictions
    with eng.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(t).order_by(t.c.model_name, t.c.model_version, t.c.id))]
    eng.dispose()
    return rows


def staging_tables(url: str) -> list[str]:
    eng = store.engine(url)
    names = [n for n in inspect(eng).get_table_names() if n.startswith("predictions_staging")]
    eng.dispose()
    return names


def test_scores_every_row_or_rejects_it_and_records_the_run(spark, dirty_csv, sqlite_url, model_name, tmp_path,
                                                            caplog):
    caplog.set_level(logging.INFO, logger="batch")
    result = run_job(dirty_csv.path, tmp_path / "out", champion(model_name), sqlite_url, spark=spark,
                     progress_interval=0.5)

    predictions = pd.read_parquet(result.predictions_path)
    rejects = pd.read_parquet(result.rejects_path)
    assert tuple(predictions.columns) == PREDICTION_COLUMNS
    assert tuple(rejects.columns) == REJECT_COLUMNS
    # Accounting: every input id in exactly one of the two outputs; rows without an id are rejects too.
    rejected_ids = rejects[REASON] != MISSING_ID
    assert set(predictions["id"]).isdisjoint(rejects.loc[rejected_ids, "id"])
    assert set(predictions["id"]) | set(rejects.loc[rejected_ids, "id"]) == dirty_csv.ids
    assert len(predictions) + len(rejects) == len(dirty_csv.frame) == result.rows_in
    assert dict(zip(rejects.loc[rejected_ids, "id"], rejects.loc[rejected_ids, REASON])) == \
        dirty_csv.expected_rejects
    assert (~rejected_ids).sum() == dirty_csv.missing_id_rows
    assert result.rejected == {"missing id": 2, "duplicate id": 5, "missing text": 2}
    assert result.rows_out == len(predictions) == 991 and predictions["id"].is_unique
    assert set(predictions["model_name"]) == {model_name} and set(predictions["model_version"]) == {1}
    assert predictions["scored_at"].nunique() == 1

    # Spark and the in-process pyfunc agree row for row.
    texts = dirty_csv.frame.assign(id=dirty_csv.frame["id"].astype(str).str.strip())
    texts = texts.set_index("id").loc[predictions["id"]]
    expected = mlflow.pyfunc.load_model(f"models:/{model_name}/1").predict(
        pd.DataFrame({"text": (texts["title"].fillna("") + " " + texts["description"].fillna("")).tolist()})
    )
    assert predictions["predicted_tag"].tolist() == expected["predicted_tag"].tolist()
    assert predictions["confidence"].round(9).tolist() == expected["confidence"].round(9).tolist()

    assert store.count(store.engine(sqlite_url), model_name, 1) == 991

    run = MlflowClient().get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert MlflowClient().get_experiment(run.info.experiment_id).name == config.BATCH_EXPERIMENT_NAME
    assert run.data.metrics["rows_in"] == 1000 and run.data.metrics["rows_out"] == 991
    assert run.data.metrics["rows_rejected"] == 9 and run.data.metrics["rejected_duplicate_id"] == 5
    assert run.data.metrics["duration_s"] > 0 and run.data.metrics["scoring_rows_per_s"] > 0
    assert run.data.params["model_version"] == "1" and run.data.params["model_name"] == model_name
    assert run.data.tags["input_digest"] == hashlib.sha256(dirty_csv.path.read_bytes()).hexdigest()
    assert run.inputs.dataset_inputs[0].dataset.name == "batch_input"

    # Batch runs never compete with training runs for promotion: they log no model.
    with pytest.raises(RegistryError, match="no finished run"):
        best_run(MlflowClient(), config.BATCH_EXPERIMENT_NAME, "rows_out")

    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("scored 991 rows in") and "rows/s" in m for m in messages)


def test_mlflow_spark_udf_still_scores_our_model_like_the_job(spark, clean_csv, sqlite_url, model_name, tmp_path):
    """Users may call `mlflow.pyfunc.spark_udf` on the model themselves (the job's scorer="spark_udf"): it answers
    what the in-process pyfunc (and so the job's own scorer, test above) answers."""
    result = run_job(clean_csv, tmp_path / "out", champion(model_name), sqlite_url, spark=spark, scorer="spark_udf")
    udf = pd.read_parquet(result.predictions_path).sort_values("id")
    frame = pd.read_csv(clean_csv).astype({"id": str}).set_index("id").loc[udf["id"]]
    expected = mlflow.pyfunc.load_model(f"models:/{model_name}/1").predict(
        pd.DataFrame({"text": (frame["title"].fillna("") + " " + frame["description"].fillna("")).tolist()}))
    assert len(udf) == 1000
    assert udf["predicted_tag"].tolist() == expected["predicted_tag"].tolist()
    assert udf["confidence"].round(9).tolist() == expected["confidence"].round(9).tolist()


def test_a_local_session_runs_its_jvm_with_the_c1_jit_only(spark):
    """batch.spark.LOCAL_CONF reaches the driver JVM's command line (it is set before the JVM starts)."""
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert "-XX:TieredStopAtLevel=1" in list(runtime.getInputArguments())


def test_a_rerun_is_idempotent(spark, clean_csv, sqlite_url, model_name, tmp_path):
    first = run_job(clean_csv, tmp_path / "out", champion(model_name), sqlite_url, spark=spark)
    before = [r[:5] for r in snapshot(sqlite_url)]
    second = run_job(clean_csv, tmp_path / "out", champion(model_name), sqlite_url, spark=spark)
    assert [r[:5] for r in snapshot(sqlite_url)] == before
    assert len(before) == first.rows_out == second.rows_out == 1000
    assert {r[6] for r in snapshot(sqlite_url)} == {second.run_id}  # the rows now say who wrote them last
    assert len(pd.read_parquet(second.predictions_path)) == 1000  # outputs are replaced, not appended
    assert first.input_digest == second.input_digest


def test_a_failure_before_the_commit_leaves_the_store_as_it_was(spark, clean_csv, dirty_csv, sqlite_url,
                                                                model_name, promote_second, tmp_path):
    run_job(clean_csv, tmp_path / "out1", champion(model_name), sqlite_url, spark=spark)
    before = snapshot(sqlite_url)
    promote_second()

    def crash():
        raise RuntimeError("injected: the job dies between scoring and the store commit")

    with pytest.raises(RuntimeError, match="injected"):
        run_job(dirty_csv.path, tmp_path / "out2", champion(model_name), sqlite_url, spark=spark,
                before_commit=crash)
    assert snapshot(sqlite_url) == before
    assert staging_tables(sqlite_url) == []
    failed = MlflowClient().search_runs(
        [mlflow.get_experiment_by_name(config.BATCH_EXPERIMENT_NAME).experiment_id],
        filter_string=f"params.model_name = '{model_name}' AND params.model_version = '2'",
    )
    assert [r.info.status for r in failed] == ["FAILED"]
    # Look-ups keep answering from what was committed, and say it is stale.
    assert PredictionLookup(sqlite_url, champion(model_name)).get("5").status == STALE


def test_postgresql_store_end_to_end(spark, clean_csv, pg_url, model_name, tmp_path):
    result = run_job(clean_csv, tmp_path / "out", champion(model_name), pg_url, spark=spark)
    run_job(clean_csv, tmp_path / "out", champion(model_name), pg_url, spark=spark)  # idempotent here too
    assert store.count(store.engine(pg_url), model_name, 1) == result.rows_out == 1000
    finder = PredictionLookup(pg_url, champion(model_name))
    hit = finder.get("17")
    assert hit.status == FRESH and hit.prediction.run_id is not None
    finder.close()
    assert staging_tables(pg_url) == []


def test_stale_after_a_promotion_until_the_next_run(spark, clean_csv, sqlite_url, model_name, promote_second,
                                                    tmp_path):
    run_job(clean_csv, tmp_path / "out", champion(model_name), sqlite_url, spark=spark)
    promote_second()
    finder = PredictionLookup(sqlite_url, champion(model_name), alias_ttl=0)
    stale = finder.get("42")
    assert stale.status == STALE and stale.prediction.model_version == 1 and stale.current_version == 2
    result = run_job(clean_csv, tmp_path / "out", champion(model_name), sqlite_url, spark=spark)
    assert result.model_version == 2
    fresh = finder.get("42")
    assert fresh.status == FRESH and fresh.prediction.model_version == 2
    assert store.count(store.engine(sqlite_url), model_name) == 2000  # version 1's rows are kept


def test_parquet_folder_with_title_description_and_nullable_int_ids(spark, sqlite_url, model_name, tmp_path):
    df = resampled(400, seed=3).astype({"id": "Int64"})
    df.loc[5, "id"] = pd.NA
    folder = tmp_path / "in"
    folder.mkdir()
    df.iloc[:200].to_parquet(folder / "part-0.parquet")
    df.iloc[200:].to_parquet(folder / "part-1.parquet")
    result = run_job(folder, tmp_path / "out", champion(model_name), sqlite_url, spark=spark)
    assert (result.rows_in, result.rows_out, result.rejected[MISSING_ID]) == (400, 399, 1)
    predictions = pd.read_parquet(result.predictions_path)
    rejects = pd.read_parquet(result.rejects_path)
    # Ids kept as they came: int64 in, int64 out (both outputs), so a merge with the input just works.
    import pyarrow.dataset as ds

    assert predictions["id"].dtype == "int64"
    assert str(ds.dataset(result.rejects_path).schema.field("id").type) == "int64"  # the one reject: a null id
    merged = predictions.merge(df.dropna(subset=["id"]).astype({"id": "int64"}), on="id")
    assert len(merged) == 399
    assert rejects["source_file"].str.endswith("part-0.parquet").all()
    # The store keys them by their spelling: `tagifai lookup 7` and GET /predictions/7 find id 7.
    assert PredictionLookup(sqlite_url, champion(model_name)).get(7).status == FRESH


def test_an_input_where_every_row_is_rejected_still_completes(spark, sqlite_url, model_name, tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"id": [1, 1, None], "text": ["a", "b", "c"]}).to_csv(path, index=False)
    result = run_job(path, tmp_path / "out", champion(model_name), sqlite_url, spark=spark)
    assert (result.rows_in, result.rows_out, result.rows_rejected) == (3, 0, 3)
    assert len(pd.read_parquet(result.predictions_path)) == 0


def test_an_input_without_ids_fails_the_job_clearly(spark, sqlite_url, model_name, tmp_path):
    path = tmp_path / "noid.csv"
    pd.DataFrame({"text": ["a"]}).to_csv(path, index=False)
    with pytest.raises(BatchInputError, match="no 'id' column"):
        run_job(path, tmp_path / "out", champion(model_name), sqlite_url, spark=spark)


# --- the command line and the cluster form (each starts its own JVM) -------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_cli_batch_score(clean_csv, sqlite_url, model_name, tmp_path):
    out = subprocess.run(
        [str(BIN / "tagifai"), "batch-score", "--input", str(clean_csv), "--output", str(tmp_path / "out"),
         "--model-uri", champion(model_name), "--store", sqlite_url, "--master", "local[2]",
         "--spark-conf", "spark.driver.memory=512m"],
        capture_output=True, text=True, env=_env(), timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "rows: 1000 in, 1000 scored, 0 rejected (none)" in out.stdout
    assert f"model: {model_name} version 1" in out.stdout
    assert "scored 1000 rows in" in out.stderr  # progress goes to the log
    assert store.count(store.engine(sqlite_url), model_name, 1) == 1000


def test_cli_batch_score_refuses_a_missing_input_without_a_traceback(sqlite_url, model_name, tmp_path):
    out = subprocess.run(
        [str(BIN / "tagifai"), "batch-score", "--input", str(tmp_path / "nope.csv"), "--output",
         str(tmp_path / "out"), "--model-uri", champion(model_name), "--store", sqlite_url],
        capture_output=True, text=True, env=_env(), timeout=120,
    )
    assert out.returncode == 1
    assert "nope.csv: no such file or folder" in out.stderr and "Traceback" not in out.stderr


def test_spark_submit_runs_the_same_job(clean_csv, sqlite_url, model_name, tmp_path):
    out = subprocess.run(
        [str(BIN / "spark-submit"), "--master", "local[2]", "--driver-memory", "512m",
         str(Path(config.ROOT_DIR) / "batch" / "submit.py"), "--input", str(clean_csv), "--output",
         str(tmp_path / "out"), "--model-uri", f"models:/{model_name}/1", "--store", sqlite_url],
        capture_output=True, text=True, env=_env(), timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert '"rows_out": 1000' in out.stdout
    assert store.count(store.engine(sqlite_url), model_name, 1) == 1000
