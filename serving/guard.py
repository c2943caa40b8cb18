"""A thin proxy around the loaded pyfunc model, handed to MLflow's scoring app in its place.

MLflow parses a request against the model's input schema, and in doing so turns `null` or `42` sent as
`inputs`/`instances` into the strings "None" and "42" (numpy does the same to a mixed list). The proxy
shows the app no input schema and `inputs`/`instances` reach it as JSON values, so the request arrives as
sent; the proxy then enforces the contract itself (rows, text, params, limits) with messages that name the
row and the rule, and calls the python model directly: the schema check is done once, by us, not twice.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PyFuncModel, scoring_server
from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

from serving.errors import RequestTooLarge
from tagifai.errors import InvalidInputError
from tagifai.predict import texts_from_input, validate_texts, validate_threshold


_TF_FORMATS = ("inputs", "instances")
_mlflow_parse = scoring_server.infer_and_parse_data


def _parse_keeping_json_types(data: dict, schema=None):
    """`inputs`/`instances` as sent (lists and dicts); the DataFrame formats still through MLflow, unless they
    are the plain case (see `_plain_texts`)."""
    formats = set(data) & set(scoring_server.SUPPORTED_FORMATS)
    if len(formats) == 1:
        only = formats.pop()
        if only in _TF_FORMATS:
            return data[only]
        texts = _plain_texts(only, data[only])
        if texts is not None:
            return texts
    return _mlflow_parse(data, schema)


def _plain_texts(fmt: str, table) -> list[str] | None:
    """The texts of a table whose only column is `text` and whose every value is a string: what the DataFrame
    MLflow would build gives `texts_from_input`, without building it (a sixth of a 1-row request's CPU).
    None for anything else, which MLflow parses as before (same frames, same errors)."""
    if fmt == "dataframe_records":
        if isinstance(table, list) and table and all(
                type(row) is dict and len(row) == 1 and type(row.get("text")) is str for row in table):
            return [row["text"] for row in table]
    elif fmt == "dataframe_split" and isinstance(table, dict) and table.keys() == {"columns", "data"}:
        rows = table["data"]
        if table["columns"] == ["text"] and isinstance(rows, list) and rows and all(
                type(row) is list and len(row) == 1 and type(row[0]) is str for row in rows):
            return [row[0] for row in rows]
    return None


def keep_json_types() -> None:
    """Swap MLflow's request parser for one that keeps JSON types, and its response writer for one that writes
    the same bytes faster (both looked up at call time by the app)."""
    scoring_server.infer_and_parse_data = _parse_keeping_json_types
    fast_json_responses()


_mlflow_predictions_to_json = scoring_server.predictions_to_json


def _predictions_to_json(raw_predictions, output, metadata=None):
    """MLflow's, byte for byte, but one json.dumps (C encoder) instead of json.dump (pure-Python encoder,
    chunk by chunk): 4x faster on a 1000-row answer."""
    if metadata:
        return _mlflow_predictions_to_json(raw_predictions, output, metadata)
    output.write(json.dumps({"predictions": _get_jsonable_obj(raw_predictions, pandas_orient="records")},
                            cls=NumpyEncoder))


def fast_json_responses() -> None:
    """Swap MLflow's response writer for `_predictions_to_json` (looked up at call time by the app)."""
    scoring_server.predictions_to_json = _predictions_to_json


class ServingMetadata:
    """The model's metadata, minus the input schema (see module docstring)."""

    def __init__(self, metadata):
        self._metadata = metadata

    def get_input_schema(self):
        return None

    def __getattr__(self, name):
        return getattr(self._metadata, name)


class PredictionCache:
    """The last `size` answered rows, keyed by (text, threshold): a bounded LRU, shared by the worker's threads.

    A row depends on nothing else (the model is fixed for the server's life), so a hit is the same answer."""

    def __init__(self, size: int, on_lookups=None):
        self.size = size
        self._rows: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()
        self._on_lookups = on_lookups  # called with (hits, misses) per request

    def rows(self, texts: list[str], threshold, predict) -> list[dict]:
        """The rows for `texts`; `predict(missing_texts)` scores the ones not cached (each distinct text once)."""
        found: list[dict | None] = []
        with self._lock:
            for text in texts:
                row = self._rows.get((text, threshold))
                if row is not None:
                    self._rows.move_to_end((text, threshold))
                found.append(row)
        missing = list(dict.fromkeys(t for t, row in zip(texts, found) if row is None))
        if missing:
            fresh = dict(zip(missing, predict(missing)))
            with self._lock:
                for text, row in fresh.items():
                    self._rows[(text, threshold)] = row
                    self._rows.move_to_end((text, threshold))
                while len(self._rows) > self.size:
                    self._rows.popitem(last=False)
            found = [row if row is not None else fresh[text] for text, row in zip(texts, found)]
        if self._on_lookups is not None:
            self._on_lookups(len(texts) - len(missing), len(missing))
        return found


class GuardedModel:
    """Looks like a PyFuncModel to MLflow's scoring server (metadata + predict with params)."""

    def __init__(self, model: PyFuncModel, max_rows: int, max_text_chars: int, on_rows=None, cache_size: int = 0,
                 on_cache_lookups=None):
        self._python_model = model.unwrap_python_model()
        self._predict_records = getattr(self._python_model, "predict_records", None)
        self.metadata = ServingMetadata(model.metadata)
        params = model.metadata.get_params_schema()
        self._known_params = {p.name for p in params.params} if params else set()
        self._max_rows, self._max_text_chars = max_rows, max_text_chars
        self._on_rows = on_rows
        # Rows are cached as dicts: only with a model that answers rows (predict_records).
        use_cache = cache_size > 0 and self._predict_records is not None
        self.cache = PredictionCache(cache_size, on_cache_lookups) if use_cache else None

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
        texts = [str(t) for t in texts]
        if self.cache is not None:
            threshold = (params or {}).get("threshold")
            out = self.cache.rows(texts, threshold, lambda missing: self._predict_records(missing, params))
        elif self._predict_records is not None:  # rows straight to JSON (models logged before it: a DataFrame)
            out = self._predict_records(texts, params)
        else:
            out = self._python_model.predict(None, texts, params)
        if self._on_rows is not None:
            self._on_rows(len(out))
        return out
