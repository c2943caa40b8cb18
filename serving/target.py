"""What a model URI asks the server to follow: a registered model's alias, stage or latest version (these move),
or a fixed version, run or path (these never do)."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient


@dataclass(frozen=True)
class Target:
    uri: str
    name: str | None = None  # the registered model, for models:/<name>...
    alias: str | None = None
    stage: str | None = None  # a stage name, or "latest"
    version: str | None = None  # models:/<name>/<n>

    @classmethod
    def parse(cls, uri: str) -> "Target":
        if not uri.startswith("models:/") or uri.startswith("models:/m-"):
            return cls(uri)  # runs:/, a LoggedModel id or a local path: nothing registered to follow
        ref = uri[len("models:/"):].strip("/")
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return cls(uri, name=name, alias=alias)
        name, _, which = ref.partition("/")
        if which.isdigit():
            return cls(uri, name=name, version=which)
        return cls(uri, name=name, stage=which or "latest")

    @property
    def moves(self) -> bool:
        """Whether the version behind this URI can change while we serve it."""
        return self.alias is not None or self.stage is not None

    @property
    def pointer(self) -> str | None:
        """How the version is chosen, for GET /models: the alias, the stage, or None for a fixed version."""
        return self.alias or self.stage

    def resolve(self, client: MlflowClient) -> str | None:
        """The registered version this URI means now (None: not a registered model, or nothing behind it).
        Raises MlflowException (and requests' errors) when the registry cannot be asked."""
        if self.name is None:
            return None
        if self.version is not None:
            return self.version
        if self.alias is not None:
            return str(client.get_model_version_by_alias(self.name, self.alias).version)
        stages = None if self.stage == "latest" else [self.stage]
        versions = client.get_latest_versions(self.name, stages=stages)
        return str(max(int(v.version) for v in versions)) if versions else None

    def version_uri(self, version: str) -> str:
        """The URI of exactly this version: what is downloaded, so an alias moving mid-download changes nothing."""
        return f"models:/{self.name}/{version}"
