"""Users and their grants on a tracking server with MLflow's basic-auth app, through its REST API, as an admin.

Two roles for the registry workflow, each a pair of grants:

- trainer: EDIT on the experiment (log runs and models), MANAGE on the registered model (register versions,
  move aliases and stages);
- viewer: READ on both (read runs, args, performance; load and serve the champion).

The experiment and the registered model are created first if missing: a grant needs the experiment's id, and
on a basic-auth server even reading a model that does not exist yet is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request, verify_rest_response

from tagifai import config
from registry.errors import RegistryError

ROLES: dict[str, dict[str, str]] = {
    "trainer": {"experiment": "EDIT", "registered_model": "MANAGE"},
    "viewer": {"experiment": "READ", "registered_model": "READ"},
}

CREATE_USER = "/api/2.0/mlflow/users/create"
GET_USER = "/api/2.0/mlflow/users/get"
LIST_USERS = "/api/2.0/mlflow/users/list"
UPDATE_PASSWORD = "/api/2.0/mlflow/users/update-password"
GRANT = "/api/3.0/mlflow/users/permissions/grant"
REVOKE = "/api/3.0/mlflow/users/permissions/revoke"
LIST_PERMISSIONS = "/api/3.0/mlflow/users/permissions/list"


@dataclass
class UserGrants:
    username: str
    created: bool
    grants: dict[str, tuple[str, str]]  # resource type -> (resource id, permission)

    def message(self) -> str:
        done = "created" if self.created else "already existed (password unchanged)"
        grants = ", ".join(f"{perm} on {kind} '{rid}'" for kind, (rid, perm) in self.grants.items())
        return f"user '{self.username}' {done}; granted {grants}"


def _call(endpoint: str, method: str, **kwargs) -> dict:
    """One auth API request with the caller's credentials (MLFLOW_TRACKING_USERNAME/PASSWORD) and retry policy."""
    response = http_request(get_default_host_creds(config.tracking_uri()), endpoint, method, **kwargs)
    response = verify_rest_response(response, endpoint)
    return response.json() if response.content else {}


def _require_server() -> None:
    if not config.tracking_uri().startswith(("http://", "https://")):
        raise RegistryError(
            f"users live on a tracking server with authentication; MLFLOW_TRACKING_URI is {config.tracking_uri()}: "
            "point it at the server (http://...) and log in as an admin (MLFLOW_TRACKING_USERNAME/PASSWORD)")


def user_exists(username: str) -> bool:
    _require_server()
    try:
        _call(GET_USER, "GET", params={"username": username})
        return True
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise


def ensure_resources(experiment_name: str, model_name: str) -> str:
    """Create the experiment and the registered model if missing; the experiment's id."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        try:
            experiment_id = client.create_experiment(experiment_name)
        except MlflowException as exc:  # created by a concurrent call meanwhile
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment_id = client.get_experiment_by_name(experiment_name).experiment_id
    else:
        experiment_id = experiment.experiment_id
    if not client.search_registered_models(filter_string=f"name = '{model_name}'"):
        try:
            client.create_registered_model(model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
    return experiment_id


def add_user(username: str, password: str | None, role: str, experiment_name: str = config.EXPERIMENT_NAME,
             model_name: str = config.MODEL_NAME, update_password: bool = False) -> UserGrants:
    """Create `username` (if new) and grant it `role` on the experiment and the registered model. Idempotent."""
    _require_server()
    if role not in ROLES:
        raise RegistryError(f"unknown role '{role}': choose one of {', '.join(ROLES)}")
    exists = user_exists(username)
    if not exists or update_password:
        if not password:
            raise RegistryError(f"a password is needed to {'create' if not exists else 'update'} user '{username}'")
        if exists:
            _call(UPDATE_PASSWORD, "PATCH", json={"username": username, "password": password})
        else:
            _call(CREATE_USER, "POST", json={"username": username, "password": password})
    experiment_id = ensure_resources(experiment_name, model_name)
    grants = {"experiment": (experiment_id, ROLES[role]["experiment"]),
              "registered_model": (model_name, ROLES[role]["registered_model"])}
    current = {(p["resource_type"], p["resource_pattern"]): p["permission"]
               for p in _call(LIST_PERMISSIONS, "GET", params={"username": username}).get("permissions", [])}
    for kind, (resource_id, permission) in grants.items():
        held = current.get((kind, resource_id))
        if held == permission:
            continue
        target = {"username": username, "resource_type": kind, "resource_id": resource_id}
        if held is not None:  # a grant is not replaced in place: revoke, then grant (e.g. viewer -> trainer)
            _call(REVOKE, "POST", json=target)
        _call(GRANT, "POST", json={**target, "permission": permission})
    named = {"experiment": (experiment_name, grants["experiment"][1]), "registered_model": grants["registered_model"]}
    return UserGrants(username, not exists, named)


def list_users() -> list[dict]:
    """Every user with its admin flag and its grants (resource type, id or pattern, permission)."""
    _require_server()
    rows = []
    for user in _call(LIST_USERS, "GET").get("users", []):
        permissions = _call(LIST_PERMISSIONS, "GET", params={"username": user["username"]}).get("permissions", [])
        grants = [f"{p['permission']} {p['resource_type']}:{p['resource_pattern']}" for p in permissions]
        rows.append({"username": user["username"], "is_admin": user.get("is_admin", False), "grants": grants})
    return rows
