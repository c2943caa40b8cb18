"""Answer from the store: the prediction of the version a model URI points to now, or say it is stale.

Fast enough for a request path: one indexed query per look-up on a pooled connection, and the alias is
resolved through `batch.models.VersionCache` (re-read at most every `alias_ttl` seconds).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from batch import store
from batch.errors import StoreError
from batch.models import VersionCache, parse
from tagifai import config

FRESH, STALE, MISSING = "fresh", "stale", "missing"


@dataclass(frozen=True)
class StoredPrediction:
    id: str
    predicted_tag: str
    confidence: float
    model_name: str
    model_version: int
    scored_at: datetime
    run_id: str | None

    def to_dict(self) -> dict:
        return {**asdict(self), "scored_at": self.scored_at.isoformat(timespec="seconds") + "Z"}


@dataclass(frozen=True)
class LookupResult:
    """`prediction` is the current version's (fresh), another version's (stale), or None (missing)."""

    id: str
    model_name: str
    current_version: int
    prediction: StoredPrediction | None

    @property
    def status(self) -> str:
        if self.prediction is None:
            return MISSING
        return FRESH if self.prediction.model_version == self.current_version else STALE

    @property
    def stale(self) -> bool:
        return self.status == STALE

    def message(self) -> str:
        if self.status == MISSING:
            return f"no prediction for id '{self.id}' from any version of '{self.model_name}' in the store"
        p = self.prediction
        when = p.scored_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        if self.status == FRESH:
            return f"id '{self.id}': {p.predicted_tag} ({p.confidence:.3f}) from version {p.model_version}"
        return (f"stale: the stored prediction for id '{self.id}' is from version {p.model_version} of "
                f"'{self.model_name}' (scored {when}), but the URI now points to version {self.current_version}; "
                f"re-run batch-score for version {self.current_version}")

    def to_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "current_version": self.current_version,
                **({"prediction": self.prediction.to_dict()} if self.prediction else {"prediction": None})}


class PredictionLookup:
    """`PredictionLookup(store_url, "models:/tagifai@champion").get("42")`; thread-safe, reuse one per process."""

    def __init__(self, store_url: str | None = None, model_uri: str = config.CHAMPION_URI, alias_ttl: float = 5.0,
                 client=None):
        self.ref = parse(model_uri)
        self.versions = VersionCache(self.ref, ttl=alias_ttl, client=client)
        self.engine = store.engine(store_url or config.store_url(), must_exist=True)
        t = store.predictions.c
        self._query = (
            select(t.id, t.predicted_tag, t.confidence, t.model_name, t.model_version, t.scored_at, t.run_id)
            .where(t.id == bindparam("id"), t.model_name == self.ref.name)
        )

    def get(self, id: str) -> LookupResult:
        current = self.versions.version()
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(self._query, {"id": str(id)}).all()
        except SQLAlchemyError as exc:
            if not store.has_table(self.engine):
                raise StoreError(f"the store {store.redact(str(self.engine.url))} has no predictions yet: "
                                 "run `tagifai batch-score` first") from None
            raise StoreError(f"store look-up failed: {exc}") from None
        return LookupResult(str(id), self.ref.name, current, _pick(rows, current))

    def close(self) -> None:
        self.engine.dispose()


def _pick(rows, current: int) -> StoredPrediction | None:
    """The current version's row; else the most recently scored other version (newest version on ties)."""
    if not rows:
        return None
    best = next((r for r in rows if r.model_version == current), None)
    if best is None:
        best = max(rows, key=lambda r: (r.scored_at, r.model_version))
    return StoredPrediction(*best)


def lookup(id: str, store_url: str | None = None, model_uri: str = config.CHAMPION_URI) -> LookupResult:
    """One-off look-up (the CLI's); services should keep a PredictionLookup instead."""
    finder = PredictionLookup(store_url, model_uri, alias_ttl=0.0)
    try:
        return finder.get(id)
    finally:
        finder.close()
