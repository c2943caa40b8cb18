"""A model's arguments and performance, read back from the run that trained it (the original /args, /performance)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from registry.errors import RegistryError, UnknownArgError, UnknownFilterError

PERFORMANCE_PARTS = ("overall", "class", "slices")


def logged_model_info(model_uri: str, missing: str = "it has no arguments to show"):
    """The ModelInfo of models:/name@alias, models:/name/3, models:/name/Production, models:/m-<id>,
    runs:/<id>/model, which must come from a run; `missing` ends the error when not (what cannot be shown)."""
    try:
        info = mlflow.models.get_model_info(model_uri)
    except MlflowException as exc:
        raise RegistryError(f"cannot resolve model URI '{model_uri}': {exc.message}") from None
    if not info.run_id:
        raise RegistryError(f"model '{model_uri}' was not logged from a run: {missing}")
    return info


def run_id_for(model_uri: str) -> str:
    return logged_model_info(model_uri).run_id


def parse_param(value: str) -> Any:
    """MLflow stores params as strings; give back the JSON types they were logged from."""
    if value in ("True", "False"):
        return value == "True"
    if value == "None":
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def run_args(run_id: str) -> dict[str, Any]:
    """Every param of the run, with the JSON type it was logged from."""
    params = mlflow.get_run(run_id).data.params
    return {k: parse_param(v) for k, v in sorted(params.items())}


def run_performance(run_id: str) -> dict:
    """The run's performance.json."""
    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="performance.json")
    except (MlflowException, OSError) as exc:
        raise RegistryError(f"run {run_id} has no performance.json: {exc}") from None
    return json.loads(Path(path).read_text())


def arg_value(args: dict[str, Any], name: str) -> Any:
    if name not in args:
        raise UnknownArgError(f"unknown argument '{name}'; this model was trained with: {', '.join(args)}")
    return args[name]


def performance_part(performance: dict, part: str | None) -> dict:
    """The whole document, or its `overall`, `class` or `slices` part."""
    check_part(part)
    return performance if part is None else performance[part]


def check_part(part: str | None) -> None:
    if part is not None and part not in PERFORMANCE_PARTS:
        raise UnknownFilterError(f"unknown filter '{part}': choose one of {', '.join(PERFORMANCE_PARTS)}")


def model_args(model_uri: str, name: str | None = None) -> Any:
    args = run_args(run_id_for(model_uri))
    return args if name is None else arg_value(args, name)


def model_performance(model_uri: str, part: str | None = None) -> dict:
    check_part(part)  # an unknown filter is refused before the registry is asked
    return performance_part(run_performance(run_id_for(model_uri)), part)
