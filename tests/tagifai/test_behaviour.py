"""Behavioural tests: the suite itself (enough cases of each kind, well formed), how failures are detected, and
the trained model passing them all (through its MLflow model URI, as the promotion gate runs them)."""

from __future__ import annotations

import mlflow
import pytest

from tagifai import config
from tagifai.behaviour import (
    CV,
    DIRECTIONAL,
    INVARIANCE,
    KINDS,
    KNOWN_LIMITATIONS,
    MINIMUM_FUNCTIONALITY,
    MLOPS,
    NLP,
    BehaviourReport,
    for_model_uri,
    run_behaviour,
)

TAGS = {*config.ACCEPTED_TAGS, config.OTHER_TAG}


def test_each_kind_has_enough_cases_to_mean_something():
    assert len(INVARIANCE) >= 8
    assert len(DIRECTIONAL) >= 8
    assert len(MINIMUM_FUNCTIONALITY) >= 8


def test_the_issue_examples_are_in_the_suite():
    assert any("changed how we build language models" in t and any("reshaped" in u for u in group)
               for group in INVARIANCE for t in group)
    assert any("sentence classification" in a and "image segmentation" in b for a, _, b, _ in DIRECTIONAL)
    assert ("Our team orders pizza every Friday.", config.OTHER_TAG) in MINIMUM_FUNCTIONALITY


def test_cases_are_well_formed():
    for group in INVARIANCE:
        assert len(group) >= 2 and len(set(group)) == len(group), group
    for a, tag_a, b, tag_b in DIRECTIONAL:
        assert a != b and tag_a != tag_b and {tag_a, tag_b} <= TAGS
    for _, tag in MINIMUM_FUNCTIONALITY:
        assert tag in TAGS
    # every tag has obvious cases
    assert {tag for _, tag in MINIMUM_FUNCTIONALITY} == TAGS


def keyword_model(texts: list[str]) -> list[str]:
    """A stand-in model with known behaviour: keywords decide."""
    out = []
    for text in texts:
        low = text.lower()
        out.append(NLP if ("sentence" in low or "language" in low) else CV if "image" in low
                   else MLOPS if "docker" in low else config.OTHER_TAG)
    return out


def test_a_model_that_gets_every_case_right_passes():
    report = run_behaviour(keyword_model, invariance=[("language model A", "language model B")],
                           directional=[("sentence task", NLP, "image task", CV)],
                           minimum_functionality=[("docker deploy", MLOPS), ("pizza", config.OTHER_TAG)],
                           known_limitations=[])
    assert report.passed
    assert report.summary() == {"invariance": {"passed": 1, "total": 1}, "directional": {"passed": 1, "total": 1},
                                "minimum_functionality": {"passed": 2, "total": 2},
                                "known_limitations": {"passed": 0, "total": 0}}
    assert report.metrics()["behaviour/pass_rate"] == 1.0


def test_each_kind_of_failure_is_detected_and_described():
    report = run_behaviour(keyword_model, invariance=[("a language model", "an image model")],
                           directional=[("image task", NLP, "sentence task", CV)],
                           minimum_functionality=[("a language model", CV)], known_limitations=[])
    assert not report.passed
    assert [(r.kind, r.name) for r in report.failures] == [
        ("invariance", "I1"), ("directional", "D1"), ("minimum_functionality", "M1")]
    described = report.failures[1].describe()
    assert "expected natural-language-processing, computer-vision" in described
    assert "'image task' -> computer-vision" in described
    assert report.metrics()["behaviour/directional/pass_rate"] == 0.0


def test_a_known_limitation_is_reported_but_never_a_failure():
    limitation = (("image task", NLP, "sentence task", CV), "the data has no such examples")
    report = run_behaviour(keyword_model, invariance=[], directional=[], minimum_functionality=[],
                           known_limitations=[limitation])
    assert report.passed and report.failures == []
    [case] = report.limitations
    assert not case.passed and not case.gating and case.reason == "the data has no such examples"
    assert report.summary()["known_limitations"] == {"passed": 0, "total": 1}


def test_known_limitations_are_few_and_each_has_its_evidence():
    assert len(KNOWN_LIMITATIONS) <= 2
    for (a, tag_a, b, tag_b), reason in KNOWN_LIMITATIONS:
        assert {tag_a, tag_b} <= TAGS and "occurs in" in reason


def test_the_model_is_called_once_with_every_distinct_text():
    calls = []

    def counting(texts):
        calls.append(list(texts))
        return keyword_model(texts)

    run_behaviour(counting)
    assert len(calls) == 1
    assert len(calls[0]) == len(set(calls[0]))


def test_report_round_trips_through_json():
    report = run_behaviour(keyword_model)
    again = BehaviourReport.from_dict(report.to_dict())
    assert again == report
    assert set(report.summary()) == {*KINDS, "known_limitations"}


@pytest.mark.slow
def test_the_trained_model_passes_every_behavioural_test(trained_run):
    report = run_behaviour(for_model_uri(trained_run.model_uri))
    assert report.passed, "\n".join(r.describe() for r in report.failures)


@pytest.mark.slow
def test_the_run_records_the_same_behaviour_results(trained_run):
    logged = BehaviourReport.from_dict(mlflow.artifacts.load_dict(f"runs:/{trained_run.run_id}/behaviour.json"))
    assert logged == run_behaviour(for_model_uri(trained_run.model_uri))
    metrics = mlflow.get_run(trained_run.run_id).data.metrics
    assert metrics["behaviour/pass_rate"] == pytest.approx(logged.metrics()["behaviour/pass_rate"])
