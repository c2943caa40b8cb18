"""The promotion gate: behavioural tests and slice checks on a candidate; refused unless forced when it fails."""

from __future__ import annotations

import pytest

from registry.gate import MIN_SLICE_SAMPLES, SliceCheck, check_candidate
from tagifai.args import TrainArgs

# Regularised into uselessness: predicts the majority class for (nearly) everything.
BAD_ARGS = TrainArgs(analyzer="word", word_ngram_max=1, classifier="sgd", alpha=0.5, num_epochs=3,
                     class_balance="none", tune_threshold=False)


@pytest.fixture(scope="module")
def bad_run(tracking_uri):
    from tracking.runs import train_and_log

    return train_and_log(BAD_ARGS, experiment_name="tests-gate", run_name="useless", cv_repeats=1)


def test_slice_check_judges_only_slices_with_enough_samples():
    assert SliceCheck("s", "cv", 0.2, MIN_SLICE_SAMPLES, 0.7).passed is False
    small = SliceCheck("s", "test", 0.0, MIN_SLICE_SAMPLES - 1, 0.7)
    assert small.passed and not small.judged and "not judged" in small.describe()
    assert SliceCheck("s", "cv", None, 0, 0.7).passed
    assert SliceCheck("s", "cv", 0.71, 20, 0.7).passed


@pytest.mark.slow
def test_the_trained_model_passes_the_gate(trained_run):
    result = check_candidate(trained_run.model_uri)
    assert result.passed, result.failures
    assert [c.source for c in result.slices] == ["cv", "cv"]  # judged on out-of-fold predictions


@pytest.mark.slow
def test_a_useless_model_fails_behaviour_and_slices(bad_run):
    result = check_candidate(bad_run.model_uri)
    assert not result.passed
    kinds = {r.kind for r in result.behaviour.failures}
    assert {"directional", "minimum_functionality"} <= kinds
    assert any(f.startswith("slice ") for f in result.failures), result.failures


@pytest.mark.slow
def test_promote_refuses_a_failing_candidate_listing_why_and_changes_nothing(cli, client, model_name, bad_run):
    refused = cli("promote", "--experiment-name", "tests-gate", "--model-name", model_name,
                  "--run-id", bad_run.run_id)
    assert refused.exit_code != 0
    assert refused.exception is None, "a refusal is a message, not a traceback"
    assert "promotion gate" in refused.stderr and "--force" in refused.stderr
    assert "behaviour: minimum_functionality" in refused.stderr
    assert "Our team orders pizza every Friday." in refused.stderr or "behaviour: directional" in refused.stderr
    assert not client.search_registered_models(filter_string=f"name = '{model_name}'") or \
        not client.search_model_versions(f"name = '{model_name}'")


@pytest.mark.slow
def test_force_promotes_a_failing_candidate(cli, client, model_name, bad_run):
    forced = cli("promote", "--experiment-name", "tests-gate", "--model-name", model_name,
                 "--run-id", bad_run.run_id, "--force")
    assert forced.exit_code == 0, forced.output
    assert client.get_model_version_by_alias(model_name, "champion").run_id == bad_run.run_id


@pytest.mark.slow
def test_gate_command(cli, trained_run, bad_run):
    good = cli("gate", "--model-uri", trained_run.model_uri)
    assert good.exit_code == 0, good.output
    assert "gate passed" in good.stdout and "behaviour invariance:" in good.stdout
    bad = cli("gate", "--model-uri", bad_run.model_uri)
    assert bad.exit_code == 1 and bad.exception is None
    assert "the gate refuses this model" in bad.stderr
