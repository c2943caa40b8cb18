"""Cross-validation of the whole training procedure on train + val: the test split stays untouched."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import tagifai
from tagifai import config
from tagifai.args import TrainArgs
from tagifai.crossval import cross_validate, development_set
from tagifai.data import load_projects
from tagifai.split import split_data
from tagifai.train import fit_model, prepare

pytestmark = pytest.mark.slow

# Small and quick: the procedure is under test here, not the model.
FAST = TrainArgs(analyzer="word", word_ngram_max=1, classifier="sgd", num_epochs=3, class_balance="weights")


@pytest.fixture(scope="module")
def projects():
    return load_projects(config.DATA_PATH)[0]


@pytest.fixture(scope="module")
def prepared(projects):
    return prepare(projects, FAST)[0]


@pytest.fixture(scope="module")
def result(projects):
    return cross_validate(projects, FAST, n_splits=3, n_repeats=2)


def test_the_test_split_is_never_seen(prepared, result):
    test_ids = set(split_data(prepared, "label", FAST.val_size, FAST.test_size, FAST.seed).test["id"])
    assert not test_ids & set(result.predictions["id"])
    dev = development_set(prepared, FAST)
    assert len(dev) + len(test_ids) == len(prepared)


def test_every_dev_project_is_held_out_once_per_repeat(prepared, result):
    dev_ids = sorted(development_set(prepared, FAST)["id"])
    for _, part in result.predictions.groupby("repeat"):
        assert sorted(part["id"]) == dev_ids
    assert len(result.scores) == 6 and result.n_splits == 3 and result.n_repeats == 2


def test_mean_and_std_describe_the_fold_scores(result):
    assert result.mean == pytest.approx(np.mean(result.scores))
    assert result.std == pytest.approx(np.std(result.scores))
    assert "3-fold x2" in result.describe() and f"{result.mean:.4f}" in result.describe()


def test_same_seed_same_scores_other_seed_other_folds(projects, result):
    again = cross_validate(projects, FAST, n_splits=3, n_repeats=2)
    assert again.scores == result.scores
    other = cross_validate(projects, FAST, n_splits=3, n_repeats=1, seed=FAST.seed + 1)
    first = result.predictions[result.predictions["repeat"] == 0]
    assert first.groupby("fold")["id"].apply(frozenset).tolist() != \
        other.predictions.groupby("fold")["id"].apply(frozenset).tolist()


def test_folds_fitted_in_worker_processes_give_the_same_result_as_in_process(projects, result):
    serial = cross_validate(projects, FAST, n_splits=3, n_repeats=2, n_jobs=1)
    assert serial.scores == result.scores  # `result` ran with the default: one worker per core
    assert serial.predictions.equals(result.predictions)


def test_workers_use_this_process_package_not_a_model_code_copy_on_sys_path(projects, tmp_path, monkeypatch):
    # mlflow.pyfunc.load_model puts a model's code directory (a copy of tagifai without data/) on sys.path; a
    # worker importing tagifai from there would find no embedding table.
    args = replace(FAST, embedding="minilm64_learned")
    in_process = cross_validate(projects, args, n_splits=2, n_repeats=1, n_jobs=1)
    shutil.copytree(Path(tagifai.__file__).parent, tmp_path / "tagifai")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cross_validate(projects, args, n_splits=2, n_repeats=1, n_jobs=2).scores == in_process.scores


def test_on_fold_sees_every_score_and_can_stop_early(projects, result):
    seen = []
    cross_validate(projects, FAST, n_splits=3, n_repeats=2, on_fold=lambda i, s: seen.append((i, s)))
    assert seen == list(enumerate(result.scores))

    class Stop(Exception):
        pass

    def stop_after_two(i, score):
        if i == 1:
            raise Stop

    with pytest.raises(Stop):
        cross_validate(projects, FAST, n_splits=3, n_repeats=2, on_fold=stop_after_two)


@pytest.mark.parametrize("method", ["val", "oof"])
def test_threshold_methods_honour_the_floor(prepared, method):
    splits = split_data(prepared, "label", FAST.val_size, FAST.test_size, FAST.seed)
    args = replace(FAST, tune_threshold=True, threshold_method=method, min_threshold=0.5)
    fitted = fit_model(splits.train, splits.val, args)
    assert fitted.predictor.threshold >= 0.5
    off = fit_model(splits.train, splits.val, replace(args, tune_threshold=False))
    assert off.predictor.threshold == 0.0


def test_nbsvm_trains_a_usable_model(prepared):
    splits = split_data(prepared, "label", FAST.val_size, FAST.test_size, FAST.seed)
    args = replace(FAST, classifier="nbsvm", alpha=1e-3, analyzer="union", tune_threshold=False)
    fitted = fit_model(splits.train, splits.val, args)
    out = fitted.predictor.predict(["Transfer learning with transformers for text classification.",
                                    "Generative adversarial networks for image generation."])
    assert out["predicted_tag"] == ["natural-language-processing", "computer-vision"]
    assert fitted.val_f1 > 0.75
