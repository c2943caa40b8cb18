"""Look-ups against a real registry: fresh, stale after a promotion, missing; the CLI's exit codes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from batch import store
from batch.errors import ModelResolutionError
from batch.lookup import FRESH, MISSING, STALE, PredictionLookup
from batch.models import VersionCache, parse
from app.cli import app

pytestmark = pytest.mark.slow

T1 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def seed(url: str, name: str, version: int, ids, tag: str = "mlops", when: datetime = T1) -> None:
    eng = store.engine(url)
    with store.Publication(eng, f"run-v{version}") as publication:
        publication.load([{"id": str(i), "model_name": name, "model_version": version, "predicted_tag": tag,
                           "confidence": 0.9, "scored_at": when} for i in ids])
        publication.publish()
    eng.dispose()


def test_fresh_prediction_of_the_champion(store_url, model_name):
    seed(store_url, model_name, 1, range(10))
    finder = PredictionLookup(store_url, f"models:/{model_name}@champion")
    result = finder.get("3")
    assert result.status == FRESH and not result.stale
    assert result.prediction.predicted_tag == "mlops" and result.prediction.model_version == 1
    assert result.to_dict()["prediction"]["scored_at"] == "2026-03-01T12:00:00Z"
    assert finder.get(3).status == FRESH  # ids are compared as strings
    assert finder.get("404").status == MISSING and finder.get("404").prediction is None
    finder.close()


def test_stale_after_a_promotion_says_which_version_and_when(sqlite_url, model_name, promote_second):
    seed(sqlite_url, model_name, 1, range(10))
    promote_second()
    result = PredictionLookup(sqlite_url, f"models:/{model_name}@champion", alias_ttl=0).get("3")
    assert result.status == STALE and result.current_version == 2
    assert result.prediction.model_version == 1
    assert "version 1" in result.message() and "2026-03-01 12:00:00 UTC" in result.message()
    assert "the current version is 2" in result.message()


def test_the_current_version_wins_over_newer_scores_of_others(sqlite_url, model_name, promote_second):
    promote_second()
    seed(sqlite_url, model_name, 2, range(5), tag="computer-vision", when=T1)
    seed(sqlite_url, model_name, 1, range(5), tag="mlops", when=T1 + timedelta(days=1))
    result = PredictionLookup(sqlite_url, f"models:/{model_name}@champion").get("1")
    assert result.status == FRESH and result.prediction.predicted_tag == "computer-vision"


def test_after_a_rollback_a_newer_versions_prediction_is_stale_too(sqlite_url, model_name, promote_second):
    from registry.transitions import rollback

    promote_second()
    seed(sqlite_url, model_name, 2, range(5))
    rollback(model_name)
    result = PredictionLookup(sqlite_url, f"models:/{model_name}@champion", alias_ttl=0).get("1")
    assert result.status == STALE and result.current_version == 1 and result.prediction.model_version == 2


def test_a_fixed_version_uri_never_calls_the_registry(sqlite_url, model_name):
    class NoRegistry:
        def __getattr__(self, name):
            raise AssertionError(f"registry called: {name}")

    seed(sqlite_url, model_name, 1, range(3))
    finder = PredictionLookup(sqlite_url, f"models:/{model_name}/1", client=NoRegistry())
    assert finder.get("2").status == FRESH


def test_alias_is_cached_for_its_ttl_then_reread(model_name, promote_second):
    cache = VersionCache(f"models:/{model_name}@champion", ttl=3600)
    assert cache.version() == 1
    promote_second()
    assert cache.version() == 1  # within the TTL: the promotion is not seen yet (documented)
    cache.invalidate()
    assert cache.version() == 2


def test_unknown_model_is_a_clear_error(sqlite_url, tracking_uri):
    seed(sqlite_url, "x", 1, [1])
    with pytest.raises(ModelResolutionError, match="does not resolve"):
        PredictionLookup(sqlite_url, "models:/no-such-model@champion").get("1")


@pytest.mark.parametrize("uri", ["models:/m-0123456789abcdef", "runs:/abc/model", "models:/a/b/c"])
def test_unregistered_uris_are_refused(uri):
    with pytest.raises(ModelResolutionError, match="not a registered-model URI"):
        parse(uri)


# --- CLI --------------------------------------------------------------------------------------------------


def cli(*args: str):
    return CliRunner().invoke(app, ["lookup", *args])


def test_cli_exit_codes_fresh_stale_allow_stale_missing(sqlite_url, model_name, promote_second):
    seed(sqlite_url, model_name, 1, range(10), tag="computer-vision")
    uri = f"models:/{model_name}@champion"
    fresh = cli("4", "--store", sqlite_url, "--model-uri", uri)
    assert fresh.exit_code == 0, fresh.output
    payload = json.loads(fresh.stdout)
    assert payload["status"] == "fresh" and payload["prediction"]["predicted_tag"] == "computer-vision"

    missing = cli("999", "--store", sqlite_url, "--model-uri", uri)
    assert missing.exit_code == 1 and "no prediction for id '999'" in missing.stderr

    promote_second()
    stale = cli("4", "--store", sqlite_url, "--model-uri", uri)
    assert stale.exit_code == 3
    assert "stale" in stale.stderr and "version 1" in stale.stderr and "--allow-stale" in stale.stderr
    assert stale.stdout == ""

    allowed = cli("4", "--store", sqlite_url, "--model-uri", uri, "--allow-stale")
    assert allowed.exit_code == 0
    payload = json.loads(allowed.stdout)
    assert payload["status"] == "stale" and payload["prediction"]["model_version"] == 1
    assert payload["current_version"] == 2 and "warning: stale" in allowed.stderr


def test_cli_without_a_store_says_so(tmp_path, model_name):
    result = cli("1", "--store", f"sqlite:///{tmp_path / 'none.db'}", "--model-uri", f"models:/{model_name}/1")
    assert result.exit_code == 2 and "does not exist: run `tagifai batch-score` first" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_one_lookup_object_serves_many_threads(store_url):
    from concurrent.futures import ThreadPoolExecutor

    seed(store_url, "m", 1, range(200))
    finder = PredictionLookup(store_url, "models:/m/1")
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda i: finder.get(str(i % 250)).status, range(2000)))
    finder.close()
    assert statuses.count(FRESH) == 1600 and statuses.count(MISSING) == 400
