"""Log a trained Predictor as a servable pyfunc model: signature, example, pinned requirements, code."""

from __future__ import annotations

import tempfile
from importlib.metadata import version
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types.schema import ColSpec, DataType, Map, ParamSchema, ParamSpec, Schema

import tagifai.predict
from tagifai.config import MODEL_ARTIFACT_NAME
from tagifai.predict import Predictor

MODEL_CODE = Path(__file__).with_name("model.py")
# The package the pickled Predictor's class is imported from. Not `tagifai.__file__`: that is None when
# `tagifai` is a namespace package, e.g. under pytest, where `tests/` (holding a `tagifai/` folder without
# __init__.py) comes first on sys.path and the editable install is found through its meta-path finder.
TAGIFAI_DIR = Path(tagifai.predict.__file__).resolve().parent
EXAMPLE_TEXTS = [
    "Transfer learning with transformers for text classification.",
    "Generative adversarial networks for image generation.",
]
# The served model needs exactly these; pinned to what trained it. Our own package travels as code_paths,
# so it must never appear here (it is on no registry).
RUNTIME_PACKAGES = ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "joblib", "cloudpickle")


def requirements(predictor: Predictor) -> list[str]:
    packages = list(RUNTIME_PACKAGES) + (["nltk"] if predictor.stems else [])
    return [f"{name}=={version(name)}" for name in packages]


def signature(threshold: float) -> ModelSignature:
    # Optional on purpose: a request with no rows (`{"dataframe_records": []}`) has no columns at all, and
    # must reach tagifai.predict.validate_texts to get its "cannot be empty" message. A frame with rows but
    # no `text` column is rejected there too, naming the column.
    inputs = Schema([ColSpec(DataType.string, "text", required=False)])
    outputs = Schema(
        [
            ColSpec(DataType.string, "input_text"),
            ColSpec(DataType.string, "predicted_tag"),
            ColSpec(DataType.double, "confidence"),
            ColSpec(Map(DataType.double), "probabilities"),
        ]
    )
    # The default is this model's tuned threshold; a request may override it.
    params = ParamSchema([ParamSpec("threshold", DataType.double, float(threshold))])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def log_model(predictor: Predictor) -> ModelInfo:
    """Log inside the active run; the model loads in a fresh process without this repo."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictor.joblib"
        joblib.dump(predictor, path)
        return mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT_NAME,
            python_model=str(MODEL_CODE),
            artifacts={"predictor": str(path)},
            code_paths=[str(TAGIFAI_DIR)],
            signature=signature(predictor.threshold),
            input_example=pd.DataFrame({"text": EXAMPLE_TEXTS}),
            pip_requirements=requirements(predictor),
        )
