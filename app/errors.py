"""The CLI's one error boundary: any error that escapes a command becomes one `error: ...` line on stderr and
the exit code its class carries (tagifai.errors), never a traceback.

A tracking-server failure (401, 403, unreachable, artifact store down) anywhere in the exception's chain is
named as such first, whatever wrapped it; an MlflowException that no layer translated is shown by its
message's first line. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import typer
from mlflow.exceptions import MlflowException
from typer.core import TyperGroup

from tagifai import config
from tagifai.errors import InvalidUsageError, TagifaiError
from tracking.remote import server_error

MAX_MESSAGE_CHARS = 2000


class GateRefusedError(TagifaiError):
    """`tagifai gate`: the model fails the promotion gate."""


class ServerUnreachableError(TagifaiError):
    """`tagifai compare-live` cannot read the server's GET /models."""

    exit_code = 1


class UsageError(InvalidUsageError):
    """A flag's value breaks a rule the flag's type cannot express (e.g. --spark-conf KEY=VALUE)."""


def describe(exc: BaseException) -> tuple[str, int] | None:
    """(one-line message, exit code) for an error the CLI explains; None for a bug."""
    server = server_error(exc)
    if server is not None:
        return str(server), server.exit_code
    if isinstance(exc, TagifaiError):
        return str(exc), exc.exit_code
    if isinstance(exc, MlflowException):
        return exc.message.strip().splitlines()[0][:MAX_MESSAGE_CHARS], 1
    return None


class ErrorBoundary(TyperGroup):
    """The root command group: the MLflow client's environment before any command runs, `describe` for what escapes."""

    def invoke(self, ctx):
        config.apply_client_defaults()
        config.apply_database_drivers()  # MLFLOW_TRACKING_URI=postgresql://... here and in the processes we start
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # the CLI's own control flow (typer vendors click)
            raise
        except Exception as exc:
            described = describe(exc)
            if described is None:
                raise
            message, code = described
            typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code) from None
