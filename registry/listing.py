"""The registered versions of a model, one row each, for `tagifai models`."""

from __future__ import annotations

from datetime import datetime, timezone

from mlflow import MlflowClient

from registry.errors import RegistryError

COLUMNS = ("version", "aliases", "stage", "run_id", "cv_f1_mean", "cv_f1_std", "val_f1", "f1", "created")


def version_rows(model_name: str) -> list[dict]:
    client = MlflowClient()
    if not client.search_registered_models(filter_string=f"name = '{model_name}'"):
        raise RegistryError(f"no registered model '{model_name}': promote a run first (tagifai promote)")
    aliases: dict[str, list[str]] = {}
    # search_model_versions leaves `aliases` empty on some stores; the registered model has them all.
    for alias, version in client.get_registered_model(model_name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in sorted(client.search_model_versions(f"name = '{model_name}'"), key=lambda v: -int(v.version)):
        metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        created = datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=timezone.utc)
        rows.append({
            "version": str(mv.version),
            "aliases": ",".join(sorted(aliases.get(str(mv.version), []))),
            "stage": mv.current_stage,
            "run_id": mv.run_id or "",
            "cv_f1_mean": metrics.get("cv_f1_mean"),
            "cv_f1_std": metrics.get("cv_f1_std"),
            "val_f1": metrics.get("val_f1"),
            "f1": metrics.get("f1"),
            "created": created.strftime("%Y-%m-%d %H:%M:%S UTC"),
        })
    return rows
