"""Promote and roll back. The champion alias moves last, and is put back if anything after it fails."""

from __future__ import annotations

import getpass
import os
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from registry.lock import registry_lock
from registry.gate import enforce as enforce_gate
from registry.versions import best_run, logged_model_uri, run_metric, version_by_alias, version_for_run
from tagifai.config import CHALLENGER_ALIAS, CHAMPION_ALIAS, PREVIOUS_ALIAS
from registry.errors import PromotionRefusedError, RegistryError

PRODUCTION, ARCHIVED = "Production", "Archived"
# Runs are ranked by the cross-validated estimate: on 115 validation projects val_f1 is noise (a run with the
# higher val_f1 can be the one that generalises worse). Runs logged before cross-validation fall back to val_f1.
DEFAULT_METRIC, FALLBACK_METRIC = "cv_f1_mean", "val_f1"


@dataclass
class Transition:
    model_name: str
    version: str
    previous: str | None
    message: str


def _who() -> str:
    return os.environ.get("MLFLOW_TRACKING_USERNAME") or getpass.getuser()


# action -> the noun of its reason tag: promoted_by / promoted_at / promotion_reason.
_REASON_TAG = {"promoted": "promotion_reason", "rolled_back": "rollback_reason"}


def _record(client: MlflowClient, name: str, version: str, action: str, reason: str, metrics: dict) -> None:
    """who / when / why on the version itself, so the UI shows the history next to the model."""
    tags = {
        f"{action}_by": _who(),
        f"{action}_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        _REASON_TAG.get(action, f"{action}_reason"): reason,
        **{f"metric.{k}": f"{v:.6f}" for k, v in metrics.items() if v is not None},
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def _set_stage(client: MlflowClient, name: str, version: str, stage: str) -> None:
    # Stages are deprecated in MLflow (FutureWarning); we mirror them on purpose for users who filter by them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage(name, version, stage, archive_existing_versions=stage == PRODUCTION)


def mirror_stages(client: MlflowClient, name: str) -> None:
    """Stages follow the aliases: the champion is Production, every other Production version is Archived."""
    champion = version_by_alias(client, name, CHAMPION_ALIAS)
    if champion is None:
        return
    if champion.current_stage != PRODUCTION:
        _set_stage(client, name, champion.version, PRODUCTION)
    for mv in client.search_model_versions(f"name = '{name}'"):
        if mv.current_stage == PRODUCTION and str(mv.version) != str(champion.version):
            _set_stage(client, name, mv.version, ARCHIVED)


def _switch(client: MlflowClient, name: str, new: str, old: ModelVersion | None) -> None:
    """Move `champion` to `new` (and `previous` to the old champion); undo on failure."""
    old_previous = version_by_alias(client, name, PREVIOUS_ALIAS)
    try:
        if old is not None:
            client.set_registered_model_alias(name, PREVIOUS_ALIAS, old.version)
        client.set_registered_model_alias(name, CHAMPION_ALIAS, new)
        mirror_stages(client, name)
    except Exception:
        if old is not None:
            client.set_registered_model_alias(name, CHAMPION_ALIAS, old.version)
        else:
            client.delete_registered_model_alias(name, CHAMPION_ALIAS)
        if old_previous is not None:
            client.set_registered_model_alias(name, PREVIOUS_ALIAS, old_previous.version)
        elif old is not None:  # `previous` was just set to the old champion: it did not exist before
            client.delete_registered_model_alias(name, PREVIOUS_ALIAS)
        mirror_stages(client, name)
        raise


def promote(
    experiment_name: str, model_name: str, metric: str = DEFAULT_METRIC, run_id: str | None = None,
    force: bool = False,
) -> Transition:
    client = MlflowClient()
    run, metric, note = _candidate(client, experiment_name, metric, run_id)
    with registry_lock(mlflow.get_tracking_uri(), model_name):
        champion = version_by_alias(client, model_name, CHAMPION_ALIAS)
        if champion is not None and champion.run_id == run.info.run_id:
            mirror_stages(client, model_name)  # idempotent repair if stages drifted
            return Transition(model_name, str(champion.version), None,
                              f"run {run.info.run_id} is already the champion (version {champion.version})")
        champion_run = client.get_run(champion.run_id) if champion is not None else None
        if champion_run is not None and metric not in champion_run.data.metrics and metric == DEFAULT_METRIC:
            metric, note = FALLBACK_METRIC, f"; the champion has no {DEFAULT_METRIC} (an older run): compared by " \
                                             f"{FALLBACK_METRIC}"
        score = _metric(run, metric)
        champion_score = champion_run.data.metrics.get(metric) if champion_run is not None else None
        if champion_score is not None and score < champion_score and not force:
            raise PromotionRefusedError(
                f"candidate run {run.info.run_id} has {metric}={score:.4f} ({figures(run)}), worse than the champion "
                f"(version {champion.version}) with {metric}={champion_score:.4f} ({figures(champion_run)}){note}; "
                "use --force to promote anyway"
            )
        candidate_uri = logged_model_uri(client, run)
        if candidate_uri and not force:
            enforce_gate(candidate_uri, run.info.run_id)  # behavioural tests + slice checks (registry/gate.py)
        version = version_for_run(client, model_name, run)
        reason = f"--run-id {run_id}" if run_id else f"best {metric} in experiment '{experiment_name}'"
        if force:
            reason += " (forced)"
        metrics = {m: run.data.metrics.get(m) for m in {metric, "f1", "val_f1", "cv_f1_mean", "cv_f1_std"}}
        _record(client, model_name, version.version, "promoted", reason, metrics)
        _switch(client, model_name, str(version.version), champion)
        challenger = version_by_alias(client, model_name, CHALLENGER_ALIAS)
        if challenger is not None and str(challenger.version) == str(version.version):  # it won: now the champion
            client.delete_registered_model_alias(model_name, CHALLENGER_ALIAS)
    before = f" (was version {champion.version})" if champion is not None else ""
    return Transition(model_name, str(version.version), champion and str(champion.version),
                      f"version {version.version} of '{model_name}' is now the champion{before}; "
                      f"{metric}={score:.4f}{note}")


def _candidate(client: MlflowClient, experiment_name: str, metric: str, run_id: str | None):
    """(run, metric it is ranked by, a note when that is the fallback)."""
    try:
        if run_id:
            run = client.get_run(run_id)
        else:
            try:
                run = best_run(client, experiment_name, metric)
            except RegistryError:
                if metric != DEFAULT_METRIC:
                    raise
                run = best_run(client, experiment_name, FALLBACK_METRIC)
    except MlflowException as exc:
        what = f"run {run_id}" if run_id else f"the best run of experiment '{experiment_name}'"
        raise RegistryError(f"cannot promote {what}: {exc.message}") from None
    if metric in run.data.metrics or metric != DEFAULT_METRIC:
        return run, metric, ""
    return run, FALLBACK_METRIC, f"; run {run.info.run_id} has no {DEFAULT_METRIC} (an older run): ranked by " \
                                 f"{FALLBACK_METRIC}"


def _metric(run, metric: str) -> float:
    score = run.data.metrics.get(metric)
    if score is None:
        raise RegistryError(f"run {run.info.run_id} has no metric '{metric}'")
    return score


def figures(run) -> str:
    """The cross-validated estimate and the validation score of a run, for messages."""
    m = run.data.metrics
    cv = f"cv_f1 {m['cv_f1_mean']:.4f} ± {m.get('cv_f1_std', float('nan')):.4f}" if "cv_f1_mean" in m else "no cv_f1"
    return f"{cv}, val_f1 {m['val_f1']:.4f}" if "val_f1" in m else cv


def rollback(model_name: str) -> Transition:
    """`previous` becomes the champion and the champion becomes `previous`: twice is a no-op."""
    client = MlflowClient()
    with registry_lock(mlflow.get_tracking_uri(), model_name):
        champion = version_by_alias(client, model_name, CHAMPION_ALIAS)
        previous = version_by_alias(client, model_name, PREVIOUS_ALIAS)
        if champion is None or previous is None:
            raise RegistryError(f"'{model_name}' has no '{PREVIOUS_ALIAS}' version to roll back to")
        _record(client, model_name, previous.version, "rolled_back", f"rollback from version {champion.version}", {})
        _switch(client, model_name, str(previous.version), champion)
    return Transition(model_name, str(previous.version), str(champion.version),
                      f"rolled back: version {previous.version} of '{model_name}' is now served as champion "
                      f"(version {champion.version} is now '{PREVIOUS_ALIAS}')")


def set_challenger(model_name: str, run_id: str, force: bool = False) -> Transition:
    """Register the run's model if needed, pass it through the promotion gate (unless forced) and give it the
    `challenger` alias: a server started with --challenger picks it up and compares it on live traffic."""
    client = MlflowClient()
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise RegistryError(f"cannot make run {run_id} the challenger: {exc.message}") from None
    with registry_lock(mlflow.get_tracking_uri(), model_name):
        champion = version_by_alias(client, model_name, CHAMPION_ALIAS)
        if champion is not None and champion.run_id == run_id:
            raise RegistryError(f"run {run_id} is the champion (version {champion.version}): a challenger is "
                                "another run")
        candidate_uri = logged_model_uri(client, run)
        if candidate_uri and not force:
            enforce_gate(candidate_uri, run_id)
        version = version_for_run(client, model_name, run)
        old = version_by_alias(client, model_name, CHALLENGER_ALIAS)
        _record(client, model_name, version.version, "challenger_set", f"--run-id {run_id}" +
                (" (forced)" if force else ""), {m: run.data.metrics.get(m) for m in ("cv_f1_mean", "val_f1")})
        client.set_registered_model_alias(model_name, CHALLENGER_ALIAS, version.version)
    before = f" (was version {old.version})" if old is not None and str(old.version) != str(version.version) else ""
    return Transition(model_name, str(version.version), old and str(old.version),
                      f"version {version.version} of '{model_name}' is now the challenger{before}; {figures(run)}")


def clear_challenger(model_name: str) -> Transition:
    client = MlflowClient()
    with registry_lock(mlflow.get_tracking_uri(), model_name):
        old = version_by_alias(client, model_name, CHALLENGER_ALIAS)
        if old is None:
            return Transition(model_name, "", None, f"'{model_name}' has no challenger")
        client.delete_registered_model_alias(model_name, CHALLENGER_ALIAS)
    return Transition(model_name, "", str(old.version),
                      f"version {old.version} of '{model_name}' is no longer the challenger")
