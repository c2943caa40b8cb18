"""Models-from-code entry point: MLflow copies this file into the model and runs it at load time.

Kept thin on purpose: validation, cleaning and classification live in `tagifai.predict`; this file
only adapts MLflow's calling convention and turns our input errors into MLflow's 400-class error.
"""

from __future__ import annotations

import joblib
import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from tagifai.errors import InvalidInputError
from tagifai.predict import texts_from_input
from tagifai.profile import TextStats


class TagifaiModel(PythonModel):
    def load_context(self, context) -> None:
        self.predictor = joblib.load(context.artifacts["predictor"])

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        try:
            texts = texts_from_input(model_input)
            return pd.DataFrame(self.predictor.predict(texts, (params or {}).get("threshold")))
        except InvalidInputError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None

    def predict_records(self, texts: list, params: dict | None = None) -> list[dict]:
        """The rows `predict` returns, as dicts: for our server (serving.scoring), which writes them as JSON
        anyway, so the DataFrame in between would only cost time. Its errors are ours (InvalidInputError)."""
        return self.predictor.predict_records(texts, (params or {}).get("threshold"))

    def text_stats(self, texts: list[str]) -> list[TextStats]:
        """Length and out-of-vocabulary share of each text (tagifai.profile.TextStats), for the inference log."""
        return self.predictor.text_stats(texts)

    def self_check(self, texts: list[str]) -> bool:
        """A server's warm-up before it takes traffic: whether the fast path agrees with the plain pipeline on
        `texts` (the pipeline serves if not), then one prediction, which builds the per-word tables, and their text
        stats, which derive the vocabulary (not in the inference log's writer, on its first row)."""
        agrees = self.predictor.check_fast_path(texts).agrees
        self.predictor.predict_records(texts)
        self.predictor.text_stats(texts)
        return agrees


mlflow.models.set_model(TagifaiModel())
