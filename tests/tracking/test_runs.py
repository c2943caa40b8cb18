"""tracking.runs: what a training run records about itself beyond its scores: the fast path's agreement with the
plain pipeline (and the flag it sets), a readable name and a description (the run's note)."""

from __future__ import annotations

import logging
from dataclasses import replace
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tagifai import config
from tagifai.args import TrainArgs
from tagifai.data import load_projects
from tagifai.fastpath import AGREEMENT_TOLERANCE
from tagifai.features import build_vectorizer
from tagifai.predict import Predictor
from tagifai.preprocess import apply_mapping, clean_texts, label_mapping
from tracking import runs

FAST_PATH_METRICS = ("fastpath_max_abs_diff", "fastpath_tags_equal", "fastpath_agrees", "fastpath_n_texts",
                     "fastpath_served")


# --- names and notes -------------------------------------------------------------------------------------------------


def test_short_names_tell_the_configurations_apart():
    shipped = TrainArgs.from_file(config.ARGS_PATH)
    assert shipped.short_name() == "nbsvm-charwb2-5+minilm64_learned"
    assert TrainArgs().short_name() == "sgd-charwb2-5"
    assert TrainArgs(analyzer="union", classifier="logreg", word_ngram_max=3).short_name() == "logreg-word1-3+charwb2-5"
    assert TrainArgs(analyzer="word", embedding="minilm64").short_name() == "sgd-word1-2+minilm64"
    assert shipped.describe() == ("nbsvm on char_wb 2-5 TF-IDF (stemmed) + minilm64_learned embedding x0.70, "
                                  "refitted on train+val")


def note(run) -> str:
    return run.data.tags[runs.NOTE_TAG]


@pytest.mark.slow
def test_a_run_without_a_name_is_named_and_described_from_its_configuration(tracking_uri, default_args):
    """A real (small) run in the session's SQLite store: the name comes from the arguments, the note holds the
    model and every score, with the cross-validation that ran."""
    args = replace(default_args, classifier="logreg", analyzer="word", embedding="none", refit_on_val=False)
    trained = runs.train_and_log(args, experiment_name="tests-run-names", cv_repeats=1)
    run = MlflowClient().get_run(trained.run_id)
    assert run.info.run_name == "logreg-word1-3"
    metrics, text = run.data.metrics, note(run)
    assert text.startswith("logreg on word 1-3 TF-IDF (stemmed)\n\n")
    assert f"test f1 **{metrics['f1']:.4f}**" in text
    assert f"val_f1 {metrics['val_f1']:.4f}" in text
    assert f"cv f1 {metrics['cv_f1_mean']:.4f} ± {metrics['cv_f1_std']:.4f} (5-fold x1)" in text
    assert f"threshold {metrics['threshold']:.3f}" in text
    assert text.endswith("serves through the fast path")


@pytest.mark.slow
def test_a_given_run_name_is_kept_and_the_note_is_still_written(trained_run):
    run = MlflowClient().get_run(trained_run.run_id)
    assert run.info.run_name == "default"
    assert note(run).startswith(TrainArgs.from_file(config.ARGS_PATH).describe())
    assert "cv f1 " in note(run) and "test f1 **" in note(run)


# --- the fast path against the plain pipeline, on the real trained model ----------------------------------------


@pytest.mark.slow
def test_the_trained_model_fast_path_agrees_with_its_pipeline_and_serves(trained_run):
    run = MlflowClient().get_run(trained_run.run_id)
    metrics = run.data.metrics
    assert set(FAST_PATH_METRICS) <= set(metrics)
    splits = trained_run.result.splits
    assert metrics["fastpath_n_texts"] == len(splits.val) + len(splits.test)
    assert metrics["fastpath_max_abs_diff"] <= AGREEMENT_TOLERANCE
    assert metrics["fastpath_tags_equal"] == metrics["fastpath_agrees"] == metrics["fastpath_served"] == 1.0

    # What was logged serves through the fast path, which is the compiled one (not scikit-learn's calls).
    predictor = mlflow.pyfunc.load_model(trained_run.model_uri).unwrap_python_model().predictor
    assert predictor.use_fast_path and predictor._fast_pipeline() is not None
    texts = splits.test["text"].tolist()
    plain = predictor.pipeline.predict_proba(clean_texts(texts, lower=predictor.lower, stem=predictor.stem))
    assert np.abs(predictor.predict_proba(texts) - plain).max() <= AGREEMENT_TOLERANCE


# --- the check inside a run, when the fast path disagrees ----------------------------------------------------------


@pytest.fixture(scope="module")
def small_fit():
    df, _ = load_projects(config.DATA_PATH)
    labels = apply_mapping(df["tag"], label_mapping(df["tag"].tolist(), min_freq=30)).to_numpy()
    texts = df["text"].tolist()
    pipeline = Pipeline([("tfidf", build_vectorizer(TrainArgs())), ("clf", LogisticRegression(C=10, max_iter=500))])
    pipeline.fit(clean_texts(texts[:400]), labels[:400])
    splits = SimpleNamespace(val=pd.DataFrame({"text": texts[400:500]}), test=pd.DataFrame({"text": texts[500:]}))
    return pipeline, splits


def _checked_in_a_run(predictor: Predictor, splits) -> dict[str, float]:
    mlflow.set_experiment("tests-fast-path-check")
    with mlflow.start_run() as run:
        runs._check_fast_path(SimpleNamespace(predictor=predictor, splits=splits))
    return MlflowClient().get_run(run.info.run_id).data.metrics


@pytest.mark.slow  # logs to a SQLite tracking store (MLflow's migrations)
def test_a_fast_path_that_agrees_is_logged_and_kept(tracking_uri, small_fit):
    pipeline, splits = small_fit
    predictor = Predictor(pipeline, threshold=0.3)
    metrics = _checked_in_a_run(predictor, splits)
    assert metrics["fastpath_agrees"] == metrics["fastpath_served"] == 1.0
    assert metrics["fastpath_max_abs_diff"] <= AGREEMENT_TOLERANCE
    assert predictor.use_fast_path


@pytest.mark.slow  # logs to a SQLite tracking store (MLflow's migrations)
def test_a_fast_path_that_disagrees_is_logged_warned_and_turned_off(tracking_uri, small_fit, caplog):
    pipeline, splits = small_fit
    predictor = Predictor(pipeline, threshold=0.3)
    fast = predictor.compiled_fast_pipeline()
    fast.blocks[0].idf = np.roll(fast.blocks[0].idf, 1)  # this instance's compiled copy only
    with caplog.at_level(logging.WARNING, logger="tracking.runs"):
        metrics = _checked_in_a_run(predictor, splits)
    assert metrics["fastpath_agrees"] == metrics["fastpath_served"] == 0.0
    assert metrics["fastpath_max_abs_diff"] > AGREEMENT_TOLERANCE
    assert "serves through the plain pipeline" in caplog.text
    assert predictor.use_fast_path is False and predictor._fast_pipeline() is None
    texts = splits.test["text"].tolist()
    assert np.array_equal(predictor.predict_proba(texts), pipeline.predict_proba(clean_texts(texts)))
