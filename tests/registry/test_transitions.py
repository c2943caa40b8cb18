"""Promote, refuse, force, roll back and list, through the CLI a user runs, on the session's SQLite registry.

Every test registers its own model name, so the tests mutate nothing another test reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import registry.transitions as transitions

pytestmark = pytest.mark.slow

TAGIFAI = str(Path(sys.executable).parent / "tagifai")


def promote(cli, experiment: str, name: str, *extra: str):
    return cli("promote", "--experiment-name", experiment, "--model-name", name, *extra)


def test_promote_picks_the_best_run_by_cv_f1_mean_and_records_why(
    cli, client, experiment, model_name, ranked_runs, snapshot
):
    better, _ = ranked_runs
    result = promote(cli, experiment, model_name)
    assert result.exit_code == 0, result.output
    assert "champion" in result.stdout

    champion = client.get_model_version_by_alias(model_name, "champion")
    # The best run with a logged model in the experiment (other tests may log more runs there).
    exp = client.get_experiment_by_name(experiment)
    with_model = {m.source_run_id for m in client.search_logged_models(experiment_ids=[exp.experiment_id])}
    scores = [client.get_run(r).data.metrics.get("cv_f1_mean") for r in with_model]
    champion_score = client.get_run(champion.run_id).data.metrics["cv_f1_mean"]
    assert champion_score == max(s for s in scores if s is not None)
    assert champion_score >= client.get_run(better).data.metrics["cv_f1_mean"]
    assert snapshot(model_name) == {"aliases": {"champion": "1"}, "stages": {"1": "Production"}}

    tags = client.get_model_version(model_name, "1").tags
    for key in ("promoted_by", "promoted_at", "promotion_reason", "metric.cv_f1_mean", "metric.val_f1", "metric.f1"):
        assert tags.get(key), f"version tag {key!r} missing: {tags}"
    assert float(tags["metric.cv_f1_mean"]) == pytest.approx(champion_score, abs=1e-6)
    assert "cv_f1_mean" in tags["promotion_reason"]


def test_promoting_the_same_run_again_creates_no_new_version(
    cli, client, experiment, model_name, ranked_runs, snapshot, version_of_run
):
    better, worse = ranked_runs
    assert promote(cli, experiment, model_name, "--run-id", better).exit_code == 0
    again = promote(cli, experiment, model_name, "--run-id", better)
    assert again.exit_code == 0, again.output
    assert "already the champion" in again.stdout
    assert snapshot(model_name) == {"aliases": {"champion": "1"}, "stages": {"1": "Production"}}

    # Away and back: the run's existing version is reused, not registered a second time.
    assert promote(cli, experiment, model_name, "--run-id", worse, "--force").exit_code == 0
    back = promote(cli, experiment, model_name, "--run-id", better, "--force")
    assert back.exit_code == 0, back.output
    assert version_of_run(model_name, better) == "1"
    assert version_of_run(model_name, worse) == "2"
    assert snapshot(model_name) == {
        "aliases": {"champion": "1", "previous": "2"},
        "stages": {"1": "Production", "2": "Archived"},
    }


def test_a_better_run_takes_over_and_the_old_champion_becomes_previous(
    cli, experiment, model_name, ranked_runs, snapshot, version_of_run
):
    better, worse = ranked_runs
    assert promote(cli, experiment, model_name, "--run-id", worse).exit_code == 0
    result = promote(cli, experiment, model_name, "--run-id", better)  # better: no --force needed
    assert result.exit_code == 0, result.output
    new, old = version_of_run(model_name, better), version_of_run(model_name, worse)
    assert snapshot(model_name) == {
        "aliases": {"champion": new, "previous": old},
        "stages": {new: "Production", old: "Archived"},
    }


def test_a_worse_run_is_refused_with_both_scores_and_nothing_changes(
    cli, client, experiment, model_name, ranked_runs, snapshot, version_of_run
):
    better, worse = ranked_runs
    assert promote(cli, experiment, model_name, "--run-id", better).exit_code == 0
    before = snapshot(model_name)

    refused = promote(cli, experiment, model_name, "--run-id", worse)
    assert refused.exit_code != 0
    assert refused.exception is None, "a refusal is a message, not a traceback"
    for run_id in (better, worse):
        metrics = client.get_run(run_id).data.metrics
        for name in ("cv_f1_mean", "cv_f1_std", "val_f1"):  # the ranking figure, its spread, and the other one
            assert f"{metrics[name]:.4f}" in refused.stderr, (name, refused.stderr)
    assert "--force" in refused.stderr
    assert snapshot(model_name) == before
    assert not client.search_model_versions(f"name = '{model_name}' AND run_id = '{worse}'")

    forced = promote(cli, experiment, model_name, "--run-id", worse, "--force")
    assert forced.exit_code == 0, forced.output
    new = version_of_run(model_name, worse)
    assert snapshot(model_name) == {
        "aliases": {"champion": new, "previous": "1"},
        "stages": {new: "Production", "1": "Archived"},
    }
    assert "forced" in client.get_model_version(model_name, new).tags["promotion_reason"]


def test_rollback_twice_returns_to_the_starting_state(cli, experiment, model_name, ranked_runs, snapshot):
    better, worse = ranked_runs
    assert promote(cli, experiment, model_name, "--run-id", worse).exit_code == 0
    assert promote(cli, experiment, model_name, "--run-id", better).exit_code == 0
    start = snapshot(model_name)
    assert start == {"aliases": {"champion": "2", "previous": "1"}, "stages": {"2": "Production", "1": "Archived"}}

    first = cli("rollback", "--model-name", model_name)
    assert first.exit_code == 0, first.output
    assert snapshot(model_name) == {
        "aliases": {"champion": "1", "previous": "2"},
        "stages": {"1": "Production", "2": "Archived"},
    }
    second = cli("rollback", "--model-name", model_name)
    assert second.exit_code == 0, second.output
    assert snapshot(model_name) == start


def test_rollback_without_previous_fails_clearly(cli, experiment, model_name, ranked_runs, snapshot):
    never_registered = cli("rollback", "--model-name", model_name)
    assert never_registered.exit_code != 0
    assert never_registered.exception is None
    assert "previous" in never_registered.stderr

    better, _ = ranked_runs
    assert promote(cli, experiment, model_name, "--run-id", better).exit_code == 0
    before = snapshot(model_name)
    result = cli("rollback", "--model-name", model_name)
    assert result.exit_code != 0
    assert result.exception is None, "no previous version is a message, not a traceback"
    assert "no 'previous' version" in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(model_name) == before


def test_models_lists_versions_with_aliases_stage_run_and_scores(
    cli, client, experiment, model_name, ranked_runs, version_of_run
):
    better, worse = ranked_runs
    assert promote(cli, experiment, model_name, "--run-id", worse).exit_code == 0
    assert promote(cli, experiment, model_name, "--run-id", better).exit_code == 0

    result = cli("models", "--model-name", model_name)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for header in ("version", "aliases", "stage", "run_id", "cv_f1_mean", "cv_f1_std", "val_f1", "f1"):
        assert any(header in line for line in lines), result.stdout
    for run_id, alias, stage in ((better, "champion", "Production"), (worse, "previous", "Archived")):
        metrics = client.get_run(run_id).data.metrics
        row = next((line for line in lines if run_id in line), None)
        assert row is not None, f"run {run_id} not listed:\n{result.stdout}"
        cells = [c.strip() for c in row.split("│") if c.strip()]
        assert cells[:4] == [version_of_run(model_name, run_id), alias, stage, run_id], row
        assert cells[4:8] == [f"{metrics[m]:.4f}" for m in ("cv_f1_mean", "cv_f1_std", "val_f1", "f1")], row

    unknown = cli("models", "--model-name", f"{model_name}-unknown")
    assert unknown.exit_code != 0
    assert unknown.exception is None
    assert "no registered model" in unknown.stderr


def test_two_concurrent_promotions_leave_one_champion_in_production(
    tracking_uri, client, experiment, model_name, trained_run, other_trained_run, snapshot
):
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    commands = [
        [TAGIFAI, "promote", "--experiment-name", experiment, "--model-name", model_name, "--run-id", run_id, "--force"]
        for run_id in (trained_run.run_id, other_trained_run.run_id)
    ]
    processes = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for c in commands]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"

    state = snapshot(model_name)
    assert sorted(state["stages"]) == ["1", "2"], state  # one version per run, none twice
    champions = [v for v in state["stages"] if state["aliases"].get("champion") == v]
    production = [v for v, stage in state["stages"].items() if stage == "Production"]
    assert len(champions) == 1 and production == champions, state
    assert state["aliases"]["previous"] != state["aliases"]["champion"]
    assert {v: s for v, s in state["stages"].items() if v not in champions} == {
        state["aliases"]["previous"]: "Archived"
    }


@pytest.mark.parametrize("where", ["mirror_stages", "_set_stage"])
def test_a_promotion_failing_during_the_switch_leaves_the_old_champion(
    monkeypatch, experiment, model_name, ranked_runs, snapshot, version_of_run, where
):
    """The new version is registered, then the switch fails: before any stage moved (mirror_stages raises
    on entry) or after the new version was already set to Production (_set_stage raises after doing it)."""
    better, worse = ranked_runs
    transitions.promote(experiment, model_name, run_id=worse)
    before = snapshot(model_name)
    assert before == {"aliases": {"champion": "1"}, "stages": {"1": "Production"}}

    real = getattr(transitions, where)
    calls = []

    def fail_first_call(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            if where == "_set_stage":
                real(*args, **kwargs)
            raise RuntimeError("registry unavailable")
        return real(*args, **kwargs)

    monkeypatch.setattr(transitions, where, fail_first_call)
    with pytest.raises(RuntimeError, match="registry unavailable"):
        transitions.promote(experiment, model_name, run_id=better)

    new = version_of_run(model_name, better)  # registration happened before the failure
    after = snapshot(model_name)
    assert after["aliases"] == before["aliases"], "aliases must be exactly as before the failed promotion"
    assert after["stages"]["1"] == "Production"
    assert after["stages"][new] != "Production"
    assert [v for v, s in after["stages"].items() if s == "Production"] == ["1"]


def test_promoting_an_unknown_run_fails_clearly(cli, experiment, model_name, client):
    result = promote(cli, experiment, model_name, "--run-id", "0123456789abcdef0123456789abcdef")
    assert result.exit_code != 0
    assert result.exception is None, f"traceback instead of a message: {result.exception!r}"
    assert "0123456789abcdef0123456789abcdef" in result.stderr and "not found" in result.stderr
    assert not client.search_registered_models(filter_string=f"name = '{model_name}'")


def test_promoting_from_an_unknown_experiment_fails_clearly(cli, model_name):
    result = cli("promote", "--experiment-name", f"no-such-{model_name}", "--model-name", model_name)
    assert result.exit_code != 0
    assert result.exception is None
    assert "does not exist" in result.stderr


@pytest.fixture(scope="module")
def run_without_cv(tracking_uri, default_args):
    """A run logged without cross-validation (as runs were before it): no cv_f1_mean."""
    from tracking.runs import train_and_log

    return train_and_log(default_args, experiment_name="tests-no-cv", run_name="no-cv", cv_repeats=0).run_id


def test_a_run_without_cv_f1_mean_is_ranked_by_val_f1_and_the_message_says_so(
    cli, client, model_name, run_without_cv, ranked_runs
):
    assert "cv_f1_mean" not in client.get_run(run_without_cv).data.metrics
    alone = promote(cli, "tests-no-cv", model_name, "--force")
    assert alone.exit_code == 0, alone.output
    assert "has no cv_f1_mean" in alone.stdout and "val_f1" in alone.stdout
    better, _ = ranked_runs  # a cross-validated candidate against a champion without the figure
    against = promote(cli, "tests-train", model_name, "--run-id", better, "--force")
    assert against.exit_code == 0, against.output
    assert "the champion has no cv_f1_mean" in against.stdout
