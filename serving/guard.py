"""A thin proxy around the loaded pyfunc model: request limits and unknown params, checked before MLflow's work."""

from __future__ import annotations

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PyFuncModel

from serving.errors import RequestTooLarge


def _rows(data) -> int:
    if isinstance(data, dict):  # `inputs` as a dict of columns
        return max((len(v) for v in data.values() if hasattr(v, "__len__") and not isinstance(v, str)), default=1)
    return len(data) if hasattr(data, "__len__") else 1


def _texts(data):
    if isinstance(data, pd.DataFrame):
        return data["text"] if "text" in data.columns else ()
    if isinstance(data, dict):
        value = data.get("text", ())
        return [value] if isinstance(value, str) else value
    return ()


class GuardedModel:
    """Looks like a PyFuncModel to MLflow's scoring server (metadata + predict with params)."""

    def __init__(self, model: PyFuncModel, max_rows: int, max_text_chars: int, on_rows=None):
        self._model = model
        self.metadata = model.metadata
        params = model.metadata.get_params_schema()
        self._known_params = {p.name for p in params.params} if params else set()
        self._max_rows, self._max_text_chars = max_rows, max_text_chars
        self._on_rows = on_rows

    def _check(self, data, params) -> None:
        rows = _rows(data)
        if rows > self._max_rows:
            raise RequestTooLarge(f"{rows} rows in one request; the limit is {self._max_rows}")
        for i, text in enumerate(_texts(data)):
            if isinstance(text, str) and len(text) > self._max_text_chars:
                raise RequestTooLarge(
                    f"row {i}: field 'text' has {len(text)} characters; the limit is {self._max_text_chars}"
                )
        unknown = sorted(set(params or {}) - self._known_params)
        if unknown:
            known = ", ".join(sorted(self._known_params)) or "none"
            raise MlflowException(f"unknown param(s): {', '.join(map(str, unknown))[:100]}; known: {known}",
                                  error_code=INVALID_PARAMETER_VALUE)

    def predict(self, data, params=None):
        self._check(data, params)
        out = self._model.predict(data, params=params)
        if self._on_rows is not None:
            self._on_rows(len(out))
        return out
