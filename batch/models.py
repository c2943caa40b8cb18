"""Which registered model version a `models:/` URI means now.

The job resolves the URI once and scores with the pinned `models:/NAME/VERSION`, so an alias that moves
mid-job cannot mix two versions in one output. Predictions are keyed by (id, name, version), hence only
registered-model URIs are accepted.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from batch.errors import ModelResolutionError

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<ref>[^/]+))/?$")
FORMS = "models:/NAME@ALIAS, models:/NAME/VERSION, models:/NAME/STAGE or models:/NAME/latest"


@dataclass(frozen=True)
class ModelRef:
    """A parsed registered-model URI: exactly one of alias, version, stage ('latest' counts as a stage)."""

    uri: str
    name: str
    alias: str | None = None
    version: int | None = None
    stage: str | None = None

    @property
    def fixed(self) -> bool:
        """True when the URI names one version for ever (no registry call needed to resolve it)."""
        return self.version is not None


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    version: int
    run_id: str | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def parse(uri: str) -> ModelRef:
    match = _URI.match(uri.strip())
    if not match:
        raise ModelResolutionError(
            f"'{uri}' is not a registered-model URI: batch predictions are keyed by model name and version, "
            f"so use {FORMS}"
        )
    name, alias, ref = match["name"], match["alias"], match["ref"]
    if alias:
        return ModelRef(uri, name, alias=alias)
    if ref.isdigit():
        return ModelRef(uri, name, version=int(ref))
    return ModelRef(uri, name, stage=ref)


def resolve(ref: ModelRef | str, client: MlflowClient | None = None) -> ResolvedModel:
    ref = parse(ref) if isinstance(ref, str) else ref
    client = client or MlflowClient()
    try:
        if ref.alias:
            mv = client.get_model_version_by_alias(ref.name, ref.alias)
        elif ref.version is not None:
            mv = client.get_model_version(ref.name, str(ref.version))
        else:
            stages = None if ref.stage.lower() == "latest" else [ref.stage]
            found = client.get_latest_versions(ref.name, stages=stages)
            if not found:
                raise ModelResolutionError(f"'{ref.uri}': no version of '{ref.name}' in stage '{ref.stage}'")
            mv = max(found, key=lambda v: int(v.version))
    except MlflowException as exc:
        raise ModelResolutionError(f"'{ref.uri}' does not resolve to a model version: {exc.message}") from None
    return ResolvedModel(ref.name, int(mv.version), mv.run_id or None)


class VersionCache:
    """The version a URI points to, re-read from the registry at most every `ttl` seconds.

    For the look-up path: the registry answers in milliseconds, the store in microseconds. A promotion
    is therefore seen at most `ttl` seconds late; a URI with a fixed version never calls the registry.
    """

    def __init__(self, ref: ModelRef | str, ttl: float = 5.0, client: MlflowClient | None = None):
        self.ref = parse(ref) if isinstance(ref, str) else ref
        self.ttl = ttl
        self._client = client
        self._lock = threading.Lock()
        self._value: int | None = self.ref.version
        self._expires = float("inf") if self.ref.fixed else 0.0

    def version(self) -> int:
        if time.monotonic() < self._expires:
            return self._value
        with self._lock:
            if time.monotonic() >= self._expires:
                self._value = resolve(self.ref, self._client or MlflowClient()).version
                self._expires = time.monotonic() + self.ttl
        return self._value

    def invalidate(self) -> None:
        if not self.ref.fixed:
            self._expires = 0.0
