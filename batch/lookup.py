"""Answer from the store: the prediction of the version being served (or a URI points to) now, or say it is stale.

One set of rules for every caller: `tagifai lookup` (a URI, resolved through the registry) and the scoring
server's GET /predictions (the version it serves, which changes on a swap) both end in `PredictionReader.find`
/ `find_many` for the staleness decision and in `answer` for what is returned or refused.

Fast enough for a request path: one indexed query per look-up (one `IN` query per batch) on a pooled
connection. The reader opens its engine lazily and again in a forked process: a pool must never be shared
across a fork (the server's workers fork from the launcher).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from batch import store
from batch.errors import PredictionNotFoundError, StalePredictionError, StoreError, StoreUnavailableError
from batch.inputs import normalise_id
from batch.models import VersionCache, parse
from tagifai import config

logger = logging.getLogger(__name__)

FRESH, STALE, MISSING = "fresh", "stale", "missing"
MAX_IDS = 1000  # per batch look-up: one IN query, and a bounded answer


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
    """`prediction` is the current version's (fresh), another version's (stale), or None (missing).

    `current_version` is None when the served model is not a registered version (nothing stored is current)."""

    id: str
    model_name: str
    current_version: int | None
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
                f"'{self.model_name}' (scored {when}), but the current version is {self.current_version}; "
                f"re-run batch-score for version {self.current_version}")

    def to_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "current_version": self.current_version,
                **({"prediction": self.prediction.to_dict()} if self.prediction else {"prediction": None})}


def answer(result: LookupResult, allow_stale: bool, how_to_allow: str = "allow stale answers") -> StoredPrediction:
    """The prediction to return for a look-up, or the error that refuses it: the one rule of the CLI and the API.

    Missing: PredictionNotFoundError. Stale without `allow_stale`: StalePredictionError, saying which version it
    is from, when it was scored, the current version and `how_to_allow` (the caller's flag or parameter)."""
    if result.status == MISSING:
        raise PredictionNotFoundError(result.message())
    if result.stale and not allow_stale:
        raise StalePredictionError(f"{result.message()} ({how_to_allow} returns it anyway)")
    return result.prediction


class PredictionReader:
    """The store's read side, keyed by (id, model name); thread-safe. One engine (pool) per process, created on
    first use in that process. `PredictionReader(url).find("42", "tagifai", 3)`."""

    def __init__(self, store_url: str | None = None, pool_size: int = 8):
        self.url = store_url or config.store_url()
        self.pool_size = pool_size
        store.engine(self.url).dispose()  # a URL that can never work fails here, at start, not per request
        self._engine: Engine | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        t = store.predictions.c
        columns = (t.id, t.predicted_tag, t.confidence, t.model_name, t.model_version, t.scored_at, t.run_id)
        self._one = select(*columns).where(t.id == bindparam("id"), t.model_name == bindparam("name"))
        self._many = select(*columns).where(t.id.in_(bindparam("ids", expanding=True)),
                                            t.model_name == bindparam("name"))

    @property
    def engine(self) -> Engine:
        if self._engine is None or self._pid != os.getpid():
            with self._lock:
                if self._engine is None or self._pid != os.getpid():
                    # Forked with a pool: drop the parent's connections without closing them (they are its).
                    if self._engine is not None:
                        self._engine.dispose(close=False)
                    self._engine = store.engine(self.url, must_exist=True, pool_pre_ping=True,
                                                pool_size=self.pool_size)
                    self._pid = os.getpid()
        return self._engine

    def _rows(self, query, params: dict) -> list:
        try:
            engine = self.engine  # e.g. the SQLite file is not there (yet): tried again on the next look-up
        except StoreError as exc:
            logger.warning("%s", exc)
            raise
        try:
            with engine.connect() as conn:
                return conn.execute(query, params).all()
        except SQLAlchemyError as exc:
            try:
                table = store.has_table(self.engine)
            except SQLAlchemyError:
                table = None
            if table is False:
                raise StoreError(f"the store {store.redact(self.url)} has no predictions yet: "
                                 "run `tagifai batch-score` first") from None
            detail = f"the store {store.redact(self.url)} cannot be read: {store.reason(exc)}"
            logger.warning("%s", detail)
            raise StoreUnavailableError(detail) from None

    def find(self, id, model_name: str, current_version: int | None) -> LookupResult:
        key = str(id)
        rows = self._rows(self._one, {"id": key, "name": model_name})
        return LookupResult(key, model_name, current_version, _pick(rows, current_version))

    def find_many(self, ids: list[str], model_name: str, current_version: int | None) -> list[LookupResult]:
        """One result per id, in the order given (duplicates answered each time)."""
        keys = [str(i) for i in ids]
        by_id: dict[str, list] = {}
        for row in self._rows(self._many, {"ids": sorted(set(keys)), "name": model_name}) if keys else []:
            by_id.setdefault(row.id, []).append(row)
        return [LookupResult(k, model_name, current_version, _pick(by_id.get(k, []), current_version)) for k in keys]

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class PredictionLookup:
    """`PredictionLookup(store_url, "models:/tagifai@champion").get("42")`: the version the URI points to now
    (re-read at most every `alias_ttl` seconds); thread-safe, reuse one per process."""

    def __init__(self, store_url: str | None = None, model_uri: str = config.CHAMPION_URI, alias_ttl: float = 5.0,
                 client=None):
        self.ref = parse(model_uri)
        self.versions = VersionCache(self.ref, ttl=alias_ttl, client=client)
        self.reader = PredictionReader(store_url)
        self.reader.engine  # noqa: B018 - a store that does not exist fails here, as it always did

    @property
    def engine(self) -> Engine:
        return self.reader.engine

    def get(self, id) -> LookupResult:
        return self.reader.find(id, self.ref.name, self.versions.version())

    def close(self) -> None:
        self.reader.close()


def _pick(rows, current: int | None) -> StoredPrediction | None:
    """The current version's row; else the most recently scored other version (newest version on ties)."""
    if not rows:
        return None
    best = next((r for r in rows if r.model_version == current), None)
    if best is None:
        best = max(rows, key=lambda r: (r.scored_at, r.model_version))
    return StoredPrediction(*best)


def lookup(id, store_url: str | None = None, model_uri: str = config.CHAMPION_URI) -> LookupResult:
    """One-off look-up (the CLI's); services should keep a PredictionLookup or PredictionReader instead."""
    finder = PredictionLookup(store_url, model_uri, alias_ttl=0.0)
    try:
        return finder.get(normalise_id(id) or str(id))
    finally:
        finder.close()
