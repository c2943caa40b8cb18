"""Training on the shipped data with the shipped arguments (no MLflow): reproducible and good enough."""

from __future__ import annotations

import json
import runpy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tagifai import config
from tagifai.args import CHOICES
from tagifai.data import load_projects
from tagifai.train import fit

# The examples live in tests/conftest.py; it cannot be imported by name (every conftest.py is module
# `conftest` while tests/ is no package, so the last one collected wins), hence read by path.
_ROOT_CONFTEST = runpy.run_path(str(Path(__file__).resolve().parents[1] / "conftest.py"))
EXAMPLE_NLP, EXAMPLE_CV = _ROOT_CONFTEST["EXAMPLE_NLP"], _ROOT_CONFTEST["EXAMPLE_CV"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def projects():
    df, _ = load_projects(config.DATA_PATH)
    return df


@pytest.fixture(scope="module")
def result(projects, default_args):
    return fit(projects, default_args)


def test_same_args_and_seed_give_identical_results(projects, default_args, result):
    again = fit(projects, default_args)
    assert again.performance == result.performance
    assert again.val_f1 == result.val_f1
    assert again.predictor.threshold == result.predictor.threshold
    np.testing.assert_array_equal(again.test_pred, result.test_pred)
    assert again.splits.test["id"].tolist() == result.splits.test["id"].tolist()


def test_another_seed_gives_another_split(projects, default_args, result):
    other = fit(projects, replace(default_args, seed=default_args.seed + 1))
    assert set(other.splits.test["id"]) != set(result.splits.test["id"])


def test_tuned_validation_f1_is_not_below_unthresholded(result):
    assert result.val_f1 >= result.val_f1_unthresholded
    assert 0.0 <= result.predictor.threshold <= 1.0


def test_without_tuning_the_threshold_is_off(projects, default_args):
    untuned = fit(projects, replace(default_args, tune_threshold=False))
    assert untuned.predictor.threshold == 0.0
    assert untuned.val_f1 == untuned.val_f1_unthresholded


def test_shipped_args_reach_test_f1_085(result):
    overall = result.performance["overall"]
    assert overall["f1"] >= 0.85, overall
    assert overall["num_samples"] == len(result.splits.test)


def test_test_split_is_scored_once_with_the_tuned_threshold(result):
    """performance.json describes exactly what the returned predictor does on the test split."""
    test = result.splits.test
    predicted = result.predictor.predict(test["text"].tolist())["predicted_tag"]
    assert predicted == result.test_pred.tolist()


def test_labels_are_the_accepted_tags_plus_other(result):
    assert sorted(result.predictor.classes) == sorted([*config.ACCEPTED_TAGS, config.OTHER_TAG])
    assert set(result.performance["class"]) == set(result.predictor.classes)


def test_epoch_callback_reports_losses_every_epoch(projects, default_args):
    seen = []
    fit(projects, replace(default_args, classifier="sgd", num_epochs=4), on_epoch=lambda epoch, metrics: seen.append((epoch, metrics)))
    assert [epoch for epoch, _ in seen] == [1, 2, 3, 4]
    for _, metrics in seen:
        assert set(metrics) >= {"train_loss", "val_loss"}
        assert all(np.isfinite(v) for v in metrics.values())


# Every choice of every option other than the shipped one, plus stemming.
OPTIONS = [
    {name: value}
    for name, values in CHOICES.items()
    for value in values
    if value != json.loads(config.ARGS_PATH.read_text())[name]
] + [{"stem": True}, {"unclaimed_to_other": 0.5}, {"embedding": "minilm64", "stem": True, "embedding_scale": 0.5}]


@pytest.mark.parametrize("override", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_every_option_trains_a_usable_model(projects, default_args, override):
    res = fit(projects, replace(default_args, **override))
    assert res.predictor.predict([EXAMPLE_NLP, EXAMPLE_CV], threshold=0.0)["predicted_tag"] == [
        "natural-language-processing",
        "computer-vision",
    ]
    assert res.performance["overall"]["f1"] >= 0.75


def test_refit_on_val_ships_a_model_fitted_on_train_and_validation(projects, default_args):
    """Validation still scores a model that never saw it; the shipped model has learned from it too."""
    args = replace(default_args, refit_on_val=False, tune_threshold=True, threshold_method="val")
    plain, refit = fit(projects, args), fit(projects, replace(args, refit_on_val=True))
    assert refit.val_f1 == plain.val_f1 and refit.predictor.threshold == plain.predictor.threshold
    val = plain.splits.val
    on_val = refit.predictor.pipeline.predict_proba(val["clean"])
    plain_on_val = plain.predictor.pipeline.predict_proba(val["clean"])
    truth = val["label"].to_numpy()
    picked = refit.predictor.classes[on_val.argmax(1)]
    # The refitted model has seen validation's labels: it fits them at least as well as the train-only one.
    assert not np.allclose(on_val, plain_on_val)
    assert (picked == truth).mean() >= (plain.predictor.classes[plain_on_val.argmax(1)] == truth).mean()
