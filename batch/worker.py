"""What runs inside Spark's Python workers to score: the model loaded once per worker process, then reused by
every task that worker runs (across stages and jobs of one session).

`mlflow.pyfunc.spark_udf` on a local master loads the model again in every task (it skips its SparkModelCache
there), and its wrapper converts the model's DataFrame into a struct column. Here `mapInPandas` hands each task's
Arrow batches to `score_batches`, which keeps the loaded model in `_MODELS` (keyed by tracking URI, model URI and
version: a version is immutable) and returns the two columns we keep as they are. Imports are lazy: a task with no
rows imports nothing and loads nothing.
"""

from __future__ import annotations

import os
import tempfile
import threading
import zipfile
from collections.abc import Iterator

import pandas as pd

SCORED_SCHEMA = "id string, predicted_tag string, confidence double"

_MODELS: dict[tuple[str, ...], object] = {}
_LOCK = threading.Lock()
LOADS = {"count": 0}  # models loaded by this process: for tests and the benchmark's accounting


def _extract(archive: str) -> str:
    """The model directory from the zip the driver shipped with SparkContext.addFile (cluster masters)."""
    from pyspark import SparkFiles

    target = tempfile.mkdtemp(prefix="tagifai-model-")
    with zipfile.ZipFile(SparkFiles.get(os.path.basename(archive))) as archive_file:
        archive_file.extractall(target)
    return target


def model_for(key: tuple[str, ...], source: str, archived: bool):
    """The pyfunc model for `key`, loaded on this process's first call and kept. `source`: the model directory
    (local masters: the driver's download, same machine) or the name of the zip shipped to every node."""
    model = _MODELS.get(key)
    if model is None:
        with _LOCK:  # Spark may run a task's input and output threads in one worker; load once
            model = _MODELS.get(key)
            if model is None:
                import mlflow.pyfunc

                path = _extract(source) if archived else source
                # suppress_warnings: the requirements check costs ~0.5 CPU-s per process and the driver made it.
                model = mlflow.pyfunc.load_model(path, suppress_warnings=True)
                _MODELS[key] = model
                LOADS["count"] += 1
    return model


def score_batches(batches: Iterator[pd.DataFrame], key: tuple[str, ...], source: str,
                  archived: bool) -> Iterator[pd.DataFrame]:
    """mapInPandas: (id, text) batches in, (id, predicted_tag, confidence) batches out, row order kept."""
    model = None
    for pdf in batches:
        if pdf.empty:
            continue
        model = model or model_for(key, source, archived)
        result = model.predict(pd.DataFrame({"text": pdf["text"].to_numpy()}))
        yield pd.DataFrame({"id": pdf["id"].to_numpy(), "predicted_tag": result["predicted_tag"].to_numpy(),
                            "confidence": result["confidence"].astype("float64").to_numpy()})
