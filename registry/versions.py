"""Look-ups: the best run of an experiment, the model version for a run, the version behind an alias."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from tagifai.config import MODEL_ARTIFACT_NAME
from registry.errors import RegistryError


def logged_model_uri(client: MlflowClient, run: Run) -> str | None:
    """models:/m-<id> of the pyfunc model the run logged, or None (e.g. a search parent run)."""
    models = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}' AND name = '{MODEL_ARTIFACT_NAME}'",
    )
    return models[0].model_uri if models else None


def best_run(client: MlflowClient, experiment_name: str, metric: str) -> Run:
    """The finished run with the highest `metric` that logged a model."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise RegistryError(f"experiment '{experiment_name}' does not exist: train first (tagifai train)")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.status = 'FINISHED' AND metrics.`{metric}` > -1e300",
        order_by=[f"metrics.`{metric}` DESC", "attributes.start_time DESC"],
        max_results=200,
    )
    for run in runs:
        if logged_model_uri(client, run):
            return run
    raise RegistryError(f"no finished run with metric '{metric}' and a logged model in '{experiment_name}'")


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def version_for_run(client: MlflowClient, name: str, run: Run) -> ModelVersion:
    """The version already registered for this run, or a new one."""
    existing = []
    if _model_exists(client, name):
        existing = client.search_model_versions(f"name = '{name}' AND run_id = '{run.info.run_id}'")
    if existing:
        return min(existing, key=lambda mv: int(mv.version))
    source = logged_model_uri(client, run)
    if source is None:
        raise RegistryError(f"run {run.info.run_id} logged no model to register")
    if not _model_exists(client, name):
        try:
            client.create_registered_model(name)
        except MlflowException as exc:  # created by a concurrent promotion meanwhile
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
    # model_id is required by a tracking server (not by a local store) for a models:/m-<id> source.
    return client.create_model_version(name, source, run_id=run.info.run_id, model_id=source.removeprefix("models:/"))


def _model_exists(client: MlflowClient, name: str) -> bool:
    return bool(client.search_registered_models(filter_string=f"name = '{name}'"))


def run_metric(client: MlflowClient, run_id: str, metric: str) -> float | None:
    return client.get_run(run_id).data.metrics.get(metric)
