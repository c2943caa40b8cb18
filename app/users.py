"""`tagifai users`: accounts and grants on a team tracking server (basic-auth), run as an admin."""

from __future__ import annotations

from typing import Optional

import typer

from tagifai import config

users_app = typer.Typer(
    help="Users and grants on the tracking server (as an admin: MLFLOW_TRACKING_USERNAME/PASSWORD).",
    no_args_is_help=True,
)


def _init() -> None:
    import mlflow

    mlflow.set_tracking_uri(config.tracking_uri())


@users_app.command("add")
def add(
    username: str = typer.Argument(..., help="The user's login."),
    role: str = typer.Option(..., help="trainer (EDIT on the experiment, MANAGE on the model) or viewer (READ)."),
    password: Optional[str] = typer.Option(
        None, envvar="TAGIFAI_USER_PASSWORD", show_envvar=True,
        help="Password of a new user (prompted for when not given; better than a flag visible in `ps`)."),
    update_password: bool = typer.Option(False, "--update-password", help="Set the password of an existing user."),
    experiment_name: str = typer.Option(config.EXPERIMENT_NAME, help="Experiment to grant on (created if missing)."),
    model_name: str = typer.Option(config.MODEL_NAME, help="Registered model to grant on (created if missing)."),
) -> None:
    """Create a user (if new) and grant a role on the experiment and the registered model. Idempotent."""
    from registry.access import add_user, user_exists

    _init()
    if password is None and (update_password or not user_exists(username)):
        password = typer.prompt(f"password for '{username}'", hide_input=True, confirmation_prompt=True)
    typer.echo(add_user(username, password, role, experiment_name, model_name, update_password).message())


@users_app.command("list")
def list_() -> None:
    """Every user, whether admin, and its grants."""
    from registry.access import list_users

    _init()
    rows = list_users()
    for row in rows:
        admin = " (admin)" if row["is_admin"] else ""
        typer.echo(f"{row['username']}{admin}: {', '.join(row['grants']) or 'no grants (default permission)'}")
