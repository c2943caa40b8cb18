"""Acceptance: the logged model loads and predicts in a fresh venv built from its requirements.txt alone.

No repository checkout, no `pip install tagifai`, no PYTHONPATH: only what the model carries (its code
under code/tagifai) and the pinned requirements it logged. This is what `mlflow models serve
--env-manager virtualenv`, Spark with a virtualenv and docker images built from the model rely on.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from tagifai import config

# The examples live in tests/conftest.py; it cannot be imported by name (every conftest.py is module
# `conftest` while tests/ is no package, so the last one collected wins), hence read by path.
_ROOT_CONFTEST = runpy.run_path(str(Path(__file__).resolve().parents[1] / "conftest.py"))
EXAMPLE_NLP, EXAMPLE_CV = _ROOT_CONFTEST["EXAMPLE_NLP"], _ROOT_CONFTEST["EXAMPLE_CV"]

pytestmark = pytest.mark.slow

SCRIPT = r"""
import importlib.util
import json
import sys

# Nothing of this repository is installed or on the path before the model is loaded.
assert importlib.util.find_spec("tagifai") is None, importlib.util.find_spec("tagifai")
assert importlib.util.find_spec("mlflow_model") is None

import mlflow
import pandas as pd

model_uri, repo_root, *texts = sys.argv[1:]
model = mlflow.pyfunc.load_model(model_uri)
out = model.predict(pd.DataFrame({"text": texts}))

import tagifai
import tagifai.predict

assert tagifai.__file__ is not None
assert not tagifai.__file__.startswith(repo_root), tagifai.__file__
assert tagifai.__file__.endswith("/code/tagifai/__init__.py"), tagifai.__file__
assert tagifai.predict.__file__.endswith("/code/tagifai/predict.py"), tagifai.predict.__file__

print("RESULT " + json.dumps({
    "predicted_tag": out["predicted_tag"].tolist(),
    "probabilities": out["probabilities"].tolist(),
    "tagifai_file": tagifai.__file__,
    "mlflow_version": mlflow.__version__,
    "prefix": sys.prefix,
}))
"""


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def test_model_loads_and_predicts_in_a_fresh_venv(trained_run, tracking_uri, tmp_path):
    # The model's own files (`models:/<id>/requirements.txt` would be read as a registered model name).
    artifacts = mlflow.get_logged_model(trained_run.model_id).artifact_location
    requirements = Path(
        mlflow.artifacts.download_artifacts(artifact_uri=f"{artifacts}/requirements.txt", dst_path=str(tmp_path))
    )
    pinned = requirements.read_text().split()
    assert "mlflow==3.17.2" in pinned and not any("tagifai" in line for line in pinned)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    venv = tmp_path / "venv"
    run([sys._base_executable, "-m", "venv", str(venv)], cwd=tmp_path, env=env, timeout=120)
    python = venv / "bin" / "python"
    run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(requirements)],
        cwd=tmp_path, env=env, timeout=600,
    )

    script = tmp_path / "score.py"
    script.write_text(SCRIPT)
    result = run(
        [str(python), str(script), trained_run.model_uri, str(config.ROOT_DIR), EXAMPLE_NLP, EXAMPLE_CV],
        cwd=tmp_path, env=env, timeout=600,
    )
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    out = json.loads(line.removeprefix("RESULT "))
    assert out["predicted_tag"] == ["natural-language-processing", "computer-vision"]
    assert out["mlflow_version"] == "3.17.2"
    assert Path(out["prefix"]).resolve() == venv.resolve()
    # Same model, same numbers as in the training environment.
    expected = trained_run.result.predictor.predict([EXAMPLE_NLP, EXAMPLE_CV])["probabilities"]
    for got, want in zip(out["probabilities"], expected):
        assert got == pytest.approx(want, abs=1e-6)
