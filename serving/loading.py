"""One model version, from its URI to something ready to serve: download, check this environment against its
requirements, load, warm up (the model's own check included), and read its run's args and performance.

The same steps run at start (where a failure stops the start with one line) and for every swap (where a
failure refuses the version and the one serving goes on). Each failure is a ServeError with a one-line reason.
"""

from __future__ import annotations

import logging
import sys
import warnings
from contextlib import contextmanager

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from registry.errors import RegistryError
from registry.metadata import run_args, run_performance
from serving import environment
from serving.errors import ServeError
from serving.served import ModelIdentity, RunMetadata, ServedVersion

logger = logging.getLogger(__name__)

# Two kinds of project, so both a text and an image class are computed once before the first client.
WARM_UP_TEXTS = ["Fine-tuning a transformer to tag images and texts.",
                 "Convolutional networks for object detection in satellite images."]


def one_line(exc: Exception) -> str:
    """An exception's message on one line, bounded, for a start-up error."""
    return " ".join(str(exc).split())[:300]


def download(model_uri: str, dst: str) -> str:
    try:
        return mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=dst)
    except MlflowException as exc:
        raise ServeError(f"cannot load model '{model_uri}': {_mlflow_detail(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - missing or unreadable files
        raise _broken(model_uri, exc) from None


def check_environment(local: str, model_uri: str, strict: bool) -> None:
    """Requirements this environment does not meet: a warning at start (the operator chose this model), a
    refusal for a swap (a running server must not take a version it cannot vouch for)."""
    found = environment.mismatches(local)
    if strict and found:
        raise ServeError(f"model '{model_uri}' needs another environment: {'; '.join(found)[:300]}")
    for mismatch in found:
        print(f"warning: this environment differs from the model's: {mismatch}", file=sys.stderr, flush=True)


def load_local(local: str, model_uri: str):
    try:
        with quiet_model_warnings():  # suppress_warnings: MLflow's slow requirements check, done before this
            return mlflow.pyfunc.load_model(local, suppress_warnings=True)
    except MlflowException as exc:
        raise ServeError(f"cannot load model '{model_uri}': {_mlflow_detail(exc)}") from None
    except Exception as exc:  # corrupted pickle, missing files, bad MLmodel ...
        raise _broken(model_uri, exc) from None


def warm_up(model, model_uri: str) -> None:
    """Predict once before serving: the first call builds the model's lookup tables (a quarter of a second),
    so no client waits for it, and forked workers inherit them. Our model also checks that its fast path agrees
    with the plain pipeline (and serves the pipeline if not)."""
    try:
        check = getattr(model.unwrap_python_model(), "self_check", None)
        if check is None:  # a model logged before self_check existed, or not ours
            model.predict(pd.DataFrame({"text": WARM_UP_TEXTS}))
        elif not check(WARM_UP_TEXTS):
            logger.warning("model '%s': its fast path disagrees with its pipeline; serving the pipeline", model_uri)
    except Exception as exc:  # noqa: BLE001 - whatever the model raises, it is not served
        detail = one_line(exc) or "no detail"
        raise ServeError(f"model '{model_uri}' loads but cannot predict ({type(exc).__name__}: {detail})") from None


def read_metadata(run_id: str | None) -> RunMetadata:
    """The run's params and performance.json; a model without them still serves (its /args says why)."""
    if run_id is None:
        return RunMetadata(missing="this model was not logged from a run")
    try:
        args = run_args(run_id)
    except MlflowException as exc:
        return RunMetadata(missing=f"run {run_id} cannot be read: {_mlflow_detail(exc)}")
    try:
        return RunMetadata(args=args, performance=run_performance(run_id))
    except RegistryError as exc:
        return RunMetadata(args=args, missing=one_line(exc))


def load_version(model_uri: str, dst: str, identity: ModelIdentity, make_scorer, pointer: str | None = None,
                 role: str = "champion", strict_environment: bool = False) -> ServedVersion:
    """Every step for `model_uri`: a ServedVersion ready for traffic, or ServeError saying which step failed."""
    local = download(model_uri, dst)
    check_environment(local, model_uri, strict_environment)
    model = load_local(local, model_uri)
    warm_up(model, model_uri)
    run_id = _run_id(local)
    return ServedVersion(identity, make_scorer(model, identity), run_id=run_id, pointer=pointer, role=role,
                         metadata=read_metadata(run_id))


def _run_id(local: str) -> str | None:
    try:
        return Model.load(local).run_id
    except Exception:  # noqa: BLE001 - it loaded, so MLmodel is readable; no run id is not an error
        return None


def _broken(model_uri: str, exc: Exception) -> ServeError:
    detail = one_line(exc)
    if not detail:
        detail = "a file ends too early (truncated?)" if isinstance(exc, EOFError) else "no detail"
    return ServeError(f"cannot load model '{model_uri}': its files are broken or incomplete "
                      f"({type(exc).__name__}: {detail})")


def _mlflow_detail(exc: MlflowException) -> str:
    return exc.message.splitlines()[0].replace(" Review the stack trace for more information.", "")[:300]


@contextmanager
def quiet_model_warnings():
    """MLflow warns on every load that our PythonModel has no type hints: noise before a one-line error and in
    every worker's log. (MLflow sets its own filter around the check, so a filterwarnings() entry is ignored.)"""
    with warnings.catch_warnings(record=True) as caught:
        yield
    for w in caught:
        if "Add type hints to the `predict` method" not in str(w.message):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
