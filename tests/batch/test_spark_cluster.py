"""The batch job through `spark-submit` on a real Spark standalone cluster (a master and one 2-core worker,
harness.spark_cluster), in the form docs/batch.md gives: the driver and the executors are separate processes
that share no Python state, the model reaches the executors as a shipped zip. Everything on 127.0.0.1."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from batch import store
from batch.inputs import MISSING_ID, REASON
from batch.lookup import FRESH, PredictionLookup
from harness.processes import start_logged, stop_group
from harness.spark_cluster import cluster_env, code_archive, listening_addresses, running_cluster
from tagifai import config

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("spark-cluster")) as cluster:
        yield cluster


def test_spark_submit_on_a_standalone_cluster(spark_cluster, dirty_csv, sqlite_url, model_name, tracking_uri,
                                              tmp_path):
    code = code_archive(Path(config.ROOT_DIR), tmp_path / "dist" / "tagifai-batch.zip")
    command = [str(BIN / "spark-submit"), "--master", spark_cluster.master_url, "--deploy-mode", "client",
               "--py-files", str(code), *spark_cluster.submit_conf(),
               "--driver-memory", "512m", "--executor-memory", "1g", "--executor-cores", "2",
               str(Path(config.ROOT_DIR) / "batch" / "submit.py"), "--input", str(dirty_csv.path),
               "--output", str(tmp_path / "out"), "--model-uri", f"models:/{model_name}@champion",
               "--store", sqlite_url]
    env = {**cluster_env(), "MLFLOW_TRACKING_URI": tracking_uri}
    job = start_logged(command, tmp_path / "submit.log", env=env)
    groups = [job.pid, *(p.pid for p in spark_cluster.processes)]
    addresses: set[str] = set()
    try:  # what the driver, the master, the worker and the executor listen on, while the job runs
        deadline = time.monotonic() + 240
        while job.poll() is None and time.monotonic() < deadline:
            addresses |= listening_addresses(groups)
            time.sleep(0.5)
    finally:
        stop_group(job)
    stdout = (tmp_path / "submit.log").read_text()
    assert job.returncode == 0, stdout[-3000:] + spark_cluster.log()
    assert '"rows_out": 991' in stdout and spark_cluster.master_url in stdout

    out = tmp_path / "out"
    predictions, rejects = pd.read_parquet(out / "predictions"), pd.read_parquet(out / "rejects")
    assert len(predictions) == 991 and predictions["id"].is_unique
    with_id = rejects[REASON] != MISSING_ID
    assert dict(zip(rejects.loc[with_id, "id"], rejects.loc[with_id, REASON])) == dirty_csv.expected_rejects
    assert set(predictions["id"]) | set(rejects.loc[with_id, "id"]) == dirty_csv.ids
    assert store.count(store.engine(sqlite_url), model_name, 1) == 991
    assert PredictionLookup(sqlite_url, f"models:/{model_name}@champion").get("11").status == FRESH

    # The executor really ran on the worker (not in the driver): its folder holds the app's stderr.
    assert list((spark_cluster.work_dir / "work").glob("app-*/*/stderr"))
    # Loopback only: the driver, the master, the worker and its executor listened on 127.0.0.1, nowhere else.
    assert len(addresses) >= 5 and all(a.startswith("127.0.0.1:") for a in addresses), addresses
