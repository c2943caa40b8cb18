"""A registered model of a test module's own, with real versions (and broken ones) to serve and move."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from registry.transitions import promote


def two_versions(trained_run, other_trained_run) -> dict:
    """A model name of its own: version 1 (trained_run, champion) and version 2 (other_trained_run).
    {"name", "client", "runs": version -> run id}."""
    name = f"tagifai-{uuid.uuid4().hex[:10]}"
    promote("tests-train", name, run_id=trained_run.run_id, force=True)
    promote("tests-train", name, run_id=other_trained_run.run_id, force=True)
    client = MlflowClient()
    client.set_registered_model_alias(name, "champion", "1")
    return {"name": name, "client": client, "runs": {"1": trained_run.run_id, "2": other_trained_run.run_id}}


def champion_version(registry) -> str:
    return str(registry["client"].get_model_version_by_alias(registry["name"], "champion").version)


RAISES_ON_PREDICT = """
import mlflow
from mlflow.pyfunc import PythonModel


class Raises(PythonModel):
    def predict(self, context, model_input, params=None):
        raise RuntimeError("this version cannot predict")


mlflow.models.set_model(Raises())
"""


def break_model(model: Path, broken: Path, how: str) -> Path:
    """A copy of the model folder `model` at `broken`, broken in one way (BREAKS)."""
    shutil.copytree(model, broken)
    if how == "truncated predictor":
        with open(broken / "artifacts" / "predictor.joblib", "r+b") as handle:
            handle.truncate(100)
    elif how == "requirements of another environment":
        (broken / "requirements.txt").write_text("scikit-learn==0.20.4\n")
    elif how == "a warm-up that raises":
        (broken / "model.py").write_text(RAISES_ON_PREDICT)
    elif how == "MLmodel not YAML":
        (broken / "MLmodel").write_text("flavors: [unclosed\n")
    elif how == "model code missing":
        (broken / "model.py").unlink()
    else:
        raise ValueError(f"unknown way to break a model: {how!r}")
    return broken


def broken_version(registry, tmp_path: Path, how: str) -> str:
    """A version of the registered model whose files are broken in one way, registered from a run's artifacts."""
    model = Path(mlflow.artifacts.download_artifacts(f"models:/{registry['name']}/1", dst_path=str(tmp_path / "ok")))
    broken = break_model(model, tmp_path / "broken", how)
    mlflow.set_experiment("tests-broken-models")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(broken), "model")
    return str(registry["client"].create_model_version(registry["name"], f"runs:/{run.info.run_id}/model",
                                                       run_id=run.info.run_id).version)
