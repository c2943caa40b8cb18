"""Parsed input -> predictions: the contract's rules on rows, texts and params, then the python model itself
(its `predict_records` when it has one, through the optional PredictionCache)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from typing import Any, Callable

from mlflow.pyfunc import PyFuncModel

from serving.batching import Batcher
from serving.errors import json_type
from tagifai.errors import InputTooLargeError, InvalidInputError
from tagifai.predict import texts_from_input, validate_texts, validate_threshold
from tagifai.profile import TextStats, text_stats

logger = logging.getLogger(__name__)


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
        found = self._lookup(texts, threshold)
        missing = list(dict.fromkeys(t for t, row in zip(texts, found) if row is None))
        if missing:
            fresh = dict(zip(missing, predict(missing)))
            self._store(fresh, threshold)
            found = [row if row is not None else fresh[text] for text, row in zip(texts, found)]
        if self._on_lookups is not None:
            self._on_lookups(len(texts) - len(missing), len(missing))
        return found

    def _lookup(self, texts: list[str], threshold) -> list[dict | None]:
        found = []
        with self._lock:
            for text in texts:
                row = self._rows.get((text, threshold))
                if row is not None:
                    self._rows.move_to_end((text, threshold))
                found.append(row)
        return found

    def _store(self, fresh: dict[str, dict], threshold) -> None:
        with self._lock:
            for text, row in fresh.items():
                self._rows[(text, threshold)] = row
                self._rows.move_to_end((text, threshold))
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)

    def __len__(self) -> int:
        return len(self._rows)


class Scorer:
    """The served model behind the contract: `score(data, params)` checks, then predicts."""

    def __init__(self, model: PyFuncModel, max_rows: int, max_text_chars: int, cache_size: int = 0,
                 on_rows: Callable[[Any], Any] | None = None, on_cache_lookups=None,
                 max_batch_size: int = 1, max_batch_wait_ms: float = 0.0):
        self._python_model = model.unwrap_python_model()
        self._predict_records = getattr(self._python_model, "predict_records", None)
        params = model.metadata.get_params_schema()
        self.known_params = {p.name for p in params.params} if params else set()
        self.max_rows, self.max_text_chars = max_rows, max_text_chars
        self._on_rows = on_rows
        # Rows are cached as dicts: only with a model that answers rows (predict_records).
        use_cache = cache_size > 0 and self._predict_records is not None
        self.cache = PredictionCache(cache_size, on_cache_lookups) if use_cache else None
        self.max_batch_size, self.max_batch_wait_ms = max_batch_size, max_batch_wait_ms
        self._batcher: Batcher | None = None
        # Length and OOV share of texts, as the model reads them (models logged before it: length alone).
        self._text_stats = getattr(self._python_model, "text_stats", None)

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 1

    def batcher(self) -> Batcher:
        """This version's batcher on the running event loop (made on first use: in the worker, after the fork)."""
        batcher = self._batcher
        if batcher is None or batcher.loop is not asyncio.get_running_loop():
            batcher = self._batcher = Batcher(self, self.max_batch_size, self.max_batch_wait_ms / 1000)
        return batcher

    def predict_many(self, requests: list[tuple[list[str], dict | None]]) -> list:
        """Each request's rows (or the exception it alone raises), from one predict call per distinct params.
        If a joined call fails, its requests are predicted again one by one, so only the bad one fails. Each row is
        counted (on_rows) once."""
        results: list = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, (_, params) in enumerate(requests):
            groups.setdefault(params_key(params), []).append(i)
        for indices in groups.values():
            params = requests[indices[0]][1]
            joined = [text for i in indices for text in requests[i][0]]
            try:
                out = self._predict(joined, params) if len(indices) > 1 else None
            except Exception:
                out = None
            if out is None:
                for i in indices:
                    try:
                        results[i] = self.predict(*requests[i])
                    except Exception as exc:
                        results[i] = exc
                continue
            start = 0
            for i in indices:
                end = start + len(requests[i][0])
                rows = out[start:end] if isinstance(out, list) else out.iloc[start:end].reset_index(drop=True)
                if self._on_rows is not None:
                    self._on_rows(rows)
                results[i] = rows
                start = end
        return results

    def score(self, data, params=None):
        """Rows (dicts) or a DataFrame for the request's texts; InvalidInputError for what breaks the contract."""
        return self.predict(self.prepare(data, params), params)

    def prepare(self, data, params=None) -> list[str]:
        """The request's texts, once the input and params keep to the contract (InvalidInputError if not)."""
        check_params_object(params)
        check_unique_columns(data)
        self.check_params(params)
        return self.check_texts(data)

    def predict(self, texts: list[str], params=None):
        out = self._predict(texts, params)
        if self._on_rows is not None:
            self._on_rows(out)
        return out

    def text_stats(self, texts: list[str]) -> list[TextStats]:
        """For the inference log (its writer thread): the model's own measure when it has one, else the length
        alone (oov_share None). A model whose measure fails is measured by length from then on (one warning)."""
        if self._text_stats is not None:
            try:
                return list(self._text_stats(texts))
            except Exception:  # noqa: BLE001 - the log must not stop over a statistic
                logger.warning("the model's text_stats failed; logging text lengths only", exc_info=True)
                self._text_stats = None
        return [text_stats(text, "", None) for text in texts]

    def check_params(self, params: dict | None) -> None:
        unknown = sorted(map(str, set(params or {}) - self.known_params))
        if unknown:
            known = ", ".join(sorted(self.known_params)) or "none"
            raise InvalidInputError(f"unknown param(s): {', '.join(unknown)[:100]}; known: {known}")
        if params and "threshold" in params:
            check_threshold(params["threshold"])

    def check_texts(self, data) -> list[str]:
        texts = texts_from_input(data)
        if len(texts) > self.max_rows:
            raise InputTooLargeError(f"{len(texts)} rows in one request; the limit is {self.max_rows}")
        texts = validate_texts(texts)
        for i, text in enumerate(texts):
            if len(text) > self.max_text_chars:
                raise InputTooLargeError(f"row {i}: field 'text' has {len(text)} characters; "
                                         f"the limit is {self.max_text_chars}")
        return [str(t) for t in texts]

    def _predict(self, texts: list[str], params):
        if self.cache is not None:
            threshold = (params or {}).get("threshold")
            return self.cache.rows(texts, threshold, lambda missing: self._predict_records(missing, params))
        if self._predict_records is not None:  # rows straight to JSON (models logged before it: a DataFrame)
            return self._predict_records(texts, params)
        return self._python_model.predict(None, texts, params)


def params_key(params: dict | None) -> tuple:
    """Requests whose params are equal (same values, same types) share a predict call."""
    return tuple(sorted((str(k), type(v).__name__, repr(v)) for k, v in (params or {}).items()))


def check_params_object(params) -> None:
    if params is not None and not isinstance(params, dict):
        raise InvalidInputError(f"'params' must be a JSON object such as {{\"threshold\": 0.5}}, "
                                f"got {json_type(params)}")


def check_threshold(value) -> None:
    """A threshold sent as text or structure is named by its JSON type, never echoed."""
    if isinstance(value, (str, list, dict)):
        raise InvalidInputError(f"param 'threshold' must be a number between 0 and 1, got {json_type(value)}")
    validate_threshold(value)


def check_unique_columns(data) -> None:
    """A table with two columns of the same name (`text` twice) is refused rather than guessed at."""
    columns = getattr(data, "columns", None)
    if columns is not None and not columns.is_unique:
        repeated = sorted({str(c) for c in columns[columns.duplicated()]})
        raise InvalidInputError(f"the input names a column more than once: {', '.join(repeated)[:100]}")


def tags_of(rows) -> list[str]:
    """The predicted tags of an answer: rows (dicts), or a DataFrame from a model without predict_records."""
    if isinstance(rows, list):
        return [row["predicted_tag"] for row in rows]
    return [str(tag) for tag in rows["predicted_tag"]]


def records_of(rows) -> list[dict]:
    return rows if isinstance(rows, list) else rows.to_dict("records")
