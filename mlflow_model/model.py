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
from tagifai.predict import EMPTY_INPUT_MESSAGE

TEXT_COLUMN = "text"


def _texts(model_input) -> list:
    if isinstance(model_input, pd.DataFrame):
        if model_input.empty and TEXT_COLUMN not in model_input.columns:
            # `{"dataframe_records": []}` arrives as a frame without columns, and so does a frame whose only
            # columns are not `text`: MLflow's schema enforcement drops them (and the rows) before predict.
            raise InvalidInputError(
                f"{EMPTY_INPUT_MESSAGE} The input has no rows with a '{TEXT_COLUMN}' column"
                f" (columns other than '{TEXT_COLUMN}' are ignored)."
            )
        if TEXT_COLUMN not in model_input.columns:
            raise InvalidInputError(f"input must have a column '{TEXT_COLUMN}'")
        return model_input[TEXT_COLUMN].tolist()
    if isinstance(model_input, pd.Series):
        return model_input.tolist()
    if isinstance(model_input, dict) and TEXT_COLUMN in model_input:
        value = model_input[TEXT_COLUMN]
        return [value] if isinstance(value, str) else list(value)
    if isinstance(model_input, (list, tuple)):
        return list(model_input)
    raise InvalidInputError(f"input must be a table with a '{TEXT_COLUMN}' column")


class TagifaiModel(PythonModel):
    def load_context(self, context) -> None:
        self.predictor = joblib.load(context.artifacts["predictor"])

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        try:
            texts = _texts(model_input)
            return pd.DataFrame(self.predictor.predict(texts, (params or {}).get("threshold")))
        except InvalidInputError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None


mlflow.models.set_model(TagifaiModel())
