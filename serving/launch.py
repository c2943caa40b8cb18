"""`tagifai serve`: check the model URI, fetch and load the model once, then run our scoring app under uvicorn,
following the registry when the URI names an alias or a stage.

Everything that can fail at start (URI, download, corrupted files, token file) fails here, before a socket is
bound, with a one-line message and a non-zero exit.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from serving.errors import ServeError
from serving.loading import load_version, one_line
from serving.served import ModelIdentity, ModelSlot
from serving.settings import ServeSettings
from serving.target import Target
from tagifai import config

REMOTE_SCHEMES = ("models:/", "runs:/")


def check_uri_policy(model_uri: str, allow_local_model: bool) -> None:
    """A pyfunc model is code: only load what the configured tracking server vouches for, unless told."""
    if model_uri.startswith(("models://", "runs://")):  # an authority names another registry/workspace
        raise ServeError(f"refusing to load '{model_uri}': only models:/ and runs:/ URIs of the configured "
                         f"tracking server ({config.tracking_uri()}) are served, not ones naming another server")
    if not model_uri.startswith(REMOTE_SCHEMES) and not allow_local_model:
        raise ServeError(
            f"refusing to load '{model_uri}': only models:/ and runs:/ URIs of the tracking server "
            f"({config.tracking_uri()}) are served; pass --allow-local-model to serve a local path"
        )


def resolve_identity(target: Target) -> ModelIdentity:
    """(registered name, version) for X-Model-Name / X-Model-Version and metric labels."""
    try:
        version = target.resolve(MlflowClient())
        if version is not None:
            return ModelIdentity(target.name, version)
        if target.name is not None:
            raise ServeError(f"model URI '{target.uri}' names no version on {config.tracking_uri()}")
        info = mlflow.models.get_model_info(target.uri)
        return ModelIdentity("unregistered", info.model_id or info.run_id or "local")
    except MlflowException as exc:
        raise ServeError(f"model URI '{target.uri}' does not resolve on {config.tracking_uri()}: "
                         f"{exc.message.splitlines()[0][:300]}") from None
    except ServeError:
        raise
    except Exception as exc:  # e.g. an MLmodel file that is not YAML
        detail = one_line(exc) or "no detail"
        raise ServeError(f"cannot read model '{target.uri}': its files are broken or incomplete "
                         f"({type(exc).__name__}: {detail})") from None


def serve(settings: ServeSettings) -> int:
    """Check, fetch and load the model, then serve it until stopped; the exit code."""
    if settings.workers > 1:  # before prometheus_client is imported: it picks its storage at import
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tagifai-metrics-")
    from serving import uvicorn_server
    from serving.prefork import serve_forked

    mlflow.set_tracking_uri(config.tracking_uri())
    check_uri_policy(settings.model_uri, settings.allow_local_model)
    app, in_worker, identity, target = assemble(settings)
    options = dict(access_log=False, log_level="warning", timeout_graceful_shutdown=settings.graceful_shutdown_seconds)
    print(f"serving {identity.name} version {identity.version} ({settings.model_uri}) on "
          f"http://{settings.host}:{settings.port} with {settings.workers} worker(s)"
          f"{_following_note(target, settings)}", file=sys.stderr, flush=True)
    # What is loaded by now (libraries, the model, the app: ~380,000 tracked objects) lives as long as the
    # worker. Frozen, the cyclic collector no longer traverses it. Else, once objects outlive their request (the
    # inference log's queue keeps them up to 1 s), a full collection comes every ten seconds or so under load and
    # holds the GIL for ~0.2 s (measured); and forked workers would copy its pages by touching them. Reference
    # counting still frees what it holds: a swapped-out first version has no reference cycle (docs/benchmarks.md).
    gc.freeze()
    if settings.workers == 1:
        in_worker(0)
        return 0 if uvicorn_server.serve(app, dict(options, host=settings.host, port=settings.port)) else 3
    try:  # the workers are forked from this process, model loaded (serving/prefork.py)
        return serve_forked(app, settings.host, settings.port, settings.workers, options, in_worker)
    except OSError as exc:
        raise ServeError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None


def assemble(settings: ServeSettings):
    """(the app, what each worker starts once forked, the first version's identity, the target followed).
    The champion is loaded here, so that the workers share it; a challenger only in the workers."""
    from serving import live
    from serving.app import create_app
    from serving.auth import read_tokens
    from serving.follower import Follower
    from serving.inference_log import open_log
    from serving.logs import configure_logging
    from serving.routing import Router
    from serving.shadow import Shadow
    from serving.status import StatusBoard, summary

    tokens = read_tokens(settings.auth_token_file) if settings.auth_token_file else None
    inference_log = open_log(settings)  # a URI that can never work stops the start before the model loads
    target, challenger = Target.parse(settings.model_uri), challenger_target(settings)
    identity = resolve_identity(target)
    first_uri = target.version_uri(identity.version) if target.name else settings.model_uri
    # Only the slot holds the first version: nothing that outlives this call (serve()'s frame and in_worker live
    # on in every forked worker) may keep it alive once a swap replaces it.
    router = Router(ModelSlot(loader(settings, "champion")(first_uri, tempfile.mkdtemp(prefix="tagifai-serve-"),
                                                           identity, target.pointer, False)),
                    ModelSlot(None) if challenger else None, settings.challenger_mode, settings.challenger_share)
    shadow = Shadow(identity.name, settings.shadow_queue, inference_log) \
        if challenger and settings.challenger_mode == "shadow" else None
    configure_logging()
    status_dir = tempfile.mkdtemp(prefix="tagifai-status-")
    described = following(settings, target, challenger)
    app = create_app(router, settings, lambda: summary(StatusBoard(status_dir, 0).read_all(), described,
                                                       live.figures()), tokens, shadow, inference_log)

    def in_worker(index: int) -> None:  # threads do not survive a fork: each worker starts its own
        Follower(target, router.champion, loader(settings, "champion"), settings.poll_interval,
                 StatusBoard(status_dir, index), index).start()
        if challenger is not None:
            Follower(challenger, router.challenger, loader(settings, "challenger"), settings.poll_interval,
                     StatusBoard(status_dir, index, "challenger"), index, optional=True).start()
        if shadow is not None:
            shadow.start()
        if inference_log is not None:
            inference_log.start()

    return app, in_worker, identity, target


def loader(settings: ServeSettings, role: str):
    """What a follower calls to load a version for `role` (strict about the environment unless told)."""
    from serving.app import create_scorer

    def load(uri: str, folder: str, identity: ModelIdentity, pointer: str | None, strict: bool = True):
        return load_version(uri, folder, identity, lambda model, ident: create_scorer(model, settings, ident, role),
                            pointer=pointer, role=role, strict_environment=strict)

    return load


def following(settings: ServeSettings, target: Target, challenger: Target | None) -> dict:
    """What GET /models says the server follows."""
    return {"model_uri": settings.model_uri, "follows": target.pointer if target.moves else None,
            "poll_interval_seconds": settings.poll_interval if target.moves else None,
            "challenger_uri": settings.challenger, "challenger_mode": settings.challenger_mode if challenger else None}


def challenger_target(settings: ServeSettings) -> Target | None:
    """The challenger's URI, checked like the champion's; it must name a registered model to follow."""
    if not settings.challenger:
        return None
    check_uri_policy(settings.challenger, settings.allow_local_model)
    challenger = Target.parse(settings.challenger)
    if challenger.name is None:
        raise ServeError(f"--challenger '{settings.challenger}' must be a registered model's URI, such as "
                         f"models:/{config.MODEL_NAME}@{config.CHALLENGER_ALIAS}")
    return challenger


def _following_note(target: Target, settings: ServeSettings) -> str:
    if not target.moves:
        return ""
    if settings.poll_interval == 0:
        return f"; pinned to this version (poll interval 0), not following '{target.pointer}'"
    return f"; following '{target.pointer}' every {settings.poll_interval:g} s"
