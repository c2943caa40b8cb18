"""A thin proxy around the loaded pyfunc model, handed to MLflow's scoring app in its place.

MLflow parses a request against the model's input schema, and in doing so turns `null` or `42` sent as
`inputs`/`instances` into the strings "None" and "42" (numpy does the same to a mixed list). The proxy
shows the app no input schema and `inputs`/`instances` reach it as JSON values, so the request arrives as
sent; the proxy then enforces the contract itself (rows, text, params, limits) with messages that name the
row and the rule, and calls the python model directly: the schema check is done once, by us, not twice.
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PyFuncModel, scoring_server

from serving.errors import RequestTooLarge
from tagifai.errors import InvalidInputError
from tagifai.predict import texts_from_input, validate_texts, validate_threshold


_TF_FORMATS = ("inputs", "instances")
_mlflow_parse = scoring_server.infer_and_parse_data


def _parse_keeping_json_types(data: dict, schema=None):
    """`inputs`/`instances` as sent (lists and dicts); the DataFrame formats still through MLflow."""
    formats = set(data) & set(scoring_server.SUPPORTED_FORMATS)
    if len(formats) == 1 and (only := formats.pop()) in _TF_FORMATS:
        return data[only]
    return _mlflow_parse(data, schema)


def keep_json_types() -> None:
    """Swap MLflow's request parser for one that keeps JSON types (looked up at call time by the app)."""
    scoring_server.infer_and_parse_data = _parse_keeping_json_types


class ServingMetadata:
    """The model's metadata, minus the input schema (see module docstring)."""

    def __init__(self, metadata):
        self._metadata = metadata

    def get_input_schema(self):
        return None

    def __getattr__(self, name):
        return getattr(self._metadata, name)


class GuardedModel:
    """Looks like a PyFuncModel to MLflow's scoring server (metadata + predict with params)."""

    def __init__(self, model: PyFuncModel, max_rows: int, max_text_chars: int, on_rows=None):
        self._python_model = model.unwrap_python_model()
        self.metadata = ServingMetadata(model.metadata)
        params = model.metadata.get_params_schema()
        self._known_params = {p.name for p in params.params} if params else set()
        self._max_rows, self._max_text_chars = max_rows, max_text_chars
        self._on_rows = on_rows

    def _check_params(self, params: dict | None) -> None:
        unknown = sorted(map(str, set(params or {}) - self._known_params))
        if unknown:
            known = ", ".join(sorted(self._known_params)) or "none"
            raise InvalidInputError(f"unknown param(s): {', '.join(unknown)[:100]}; known: {known}")
        if params and "threshold" in params:
            validate_threshold(params["threshold"])

    def _check_texts(self, data) -> list[str]:
        texts = texts_from_input(data)
        if len(texts) > self._max_rows:
            raise RequestTooLarge(f"{len(texts)} rows in one request; the limit is {self._max_rows}")
        texts = validate_texts(texts)
        for i, text in enumerate(texts):
            if len(text) > self._max_text_chars:
                raise RequestTooLarge(f"row {i}: field 'text' has {len(text)} characters; "
                                      f"the limit is {self._max_text_chars}")
        return texts

    def predict(self, data, params=None):
        try:
            self._check_params(params)
            texts = self._check_texts(data)
        except InvalidInputError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        out = self._python_model.predict(None, [str(t) for t in texts], params)
        if self._on_rows is not None:
            self._on_rows(len(out))
        return out
