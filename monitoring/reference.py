"""The served version and its reference profile: --model-uri resolved through the registry to (name, version,
run), and the run's reference_profile.json (tagifai.profile), what its predictions looked like on unseen texts."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from batch.errors import ModelResolutionError
from batch.models import FORMS, ResolvedModel, parse, resolve
from monitoring.errors import NoProfileError, UnknownModelError
from tagifai.profile import PROFILE_ARTIFACT, PROFILE_FORMAT

PROFILE_KEYS = ("tag_shares", "confidence", "text_chars")


@dataclass(frozen=True, eq=False)
class Reference:
    model: ResolvedModel
    profile: dict


def resolve_model(model_uri: str) -> ResolvedModel:
    """models:/NAME@ALIAS, /VERSION, /STAGE or /latest -> (name, version, run id); UnknownModelError if not."""
    try:
        ref = parse(model_uri)
    except ModelResolutionError:
        raise UnknownModelError(f"--model-uri '{model_uri}' is not a registered-model URI: the inference log is "
                                f"kept per model name and version, so use {FORMS}") from None
    try:
        model = resolve(ref)
    except ModelResolutionError as exc:
        raise UnknownModelError(str(exc)) from None
    if not model.run_id:
        raise UnknownModelError(f"{model.uri} was not registered from a run: it has no reference profile")
    return model


def load_profile(model: ResolvedModel) -> dict:
    """The run's reference profile; NoProfileError if the run has none (trained before monitoring existed)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(run_id=model.run_id, artifact_path=PROFILE_ARTIFACT,
                                                       dst_path=tmp)
            profile = json.loads(Path(path).read_text())
        except (MlflowException, OSError):
            raise NoProfileError(f"{model.name} version {model.version} has no reference profile "
                                 f"({PROFILE_ARTIFACT} in run {model.run_id}); it was trained before monitoring "
                                 "— retrain") from None
        except ValueError as exc:
            raise NoProfileError(f"{model.name} version {model.version}: {PROFILE_ARTIFACT} of run {model.run_id} "
                                 f"is not JSON ({exc})") from None
    missing = [k for k in PROFILE_KEYS if not profile.get(k)] if isinstance(profile, dict) else list(PROFILE_KEYS)
    if missing or profile.get("format") != PROFILE_FORMAT:
        raise NoProfileError(f"{model.name} version {model.version}: {PROFILE_ARTIFACT} of run {model.run_id} is "
                             f"not a format-{PROFILE_FORMAT} profile (missing or empty: {', '.join(missing) or '-'})")
    return profile


def load_reference(model_uri: str) -> Reference:
    model = resolve_model(model_uri)
    return Reference(model, load_profile(model))
