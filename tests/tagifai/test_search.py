"""The hyperparameter search: its space, and a real (tiny) search logged to the session's MLflow store."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import mlflow
import optuna
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from tagifai import config
from tagifai.args import TrainArgs
from app.cli import app
from tagifai.calibration import MAX_CV_ECE
from tagifai.search import ALPHA_RANGES, is_feasible, optimize, pick_best, suggest_args, trial_params


def sampled_args(n: int = 60) -> list[tuple[dict, TrainArgs]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    out = []
    for _ in range(n):
        trial = study.ask()
        args = suggest_args(trial, TrainArgs())
        out.append((trial.params, args))
        study.tell(trial, 0.0)
    return out


def test_every_sampled_parameter_is_logged_for_its_trial():
    """No trial run shows a parameter that had no effect, and every sampled choice shows up in its params."""
    for params, args in sampled_args():
        logged = args.to_params()
        for name, value in params.items():
            target = "alpha" if name.startswith("alpha_") else name
            assert target in logged, (name, params)
            assert logged[target] == value


def test_the_space_covers_the_choices_of_the_issue():
    seen = {name: {getattr(a, name) for _, a in sampled_args(120)}
            for name in ("classifier", "analyzer", "class_balance", "sublinear_tf", "tune_threshold", "loss",
                         "embedding")}
    assert seen["classifier"] == set(ALPHA_RANGES) == {"sgd", "logreg", "svm", "nbsvm"}
    assert seen["analyzer"] == {"word", "char_wb", "union"}
    assert seen["class_balance"] == {"weights", "oversample", "none"}
    assert seen["sublinear_tf"] == seen["tune_threshold"] == {True, False}
    assert seen["loss"] == {"log_loss", "modified_huber"}
    assert seen["embedding"] == {"none", "minilm64", "minilm64_learned"}


@pytest.mark.parametrize("values", [
    {},
    {"classifier": "nbsvm", "analyzer": "union", "alpha": 1e-3, "tune_threshold": True, "min_threshold": 0.4},
    {"classifier": "logreg", "analyzer": "word", "tune_threshold": False},
    {"classifier": "sgd", "analyzer": "char_wb", "loss": "modified_huber", "stem": True},
    {"classifier": "nbsvm", "analyzer": "union", "stem": True, "embedding": "minilm64", "embedding_scale": 0.8},
    {"classifier": "nbsvm", "embedding": "minilm64_learned", "embedding_scale": 0.7},
])
def test_trial_params_give_back_the_args(values):
    args = replace(TrainArgs(), **values)
    assert suggest_args(optuna.trial.FixedTrial(trial_params(args)), TrainArgs()) == args


def _done(study: optuna.Study, value: float, **attrs) -> None:
    study.add_trial(optuna.trial.create_trial(
        params={}, distributions={}, value=value,
        user_attrs={"behaviour_failures": 0, "cost_ratio": 1.0, "cv_f1_std": 0.0, **attrs}))


def test_a_miscalibrated_trial_is_infeasible_and_loses_to_a_calibrated_one():
    study = optuna.create_study(direction="maximize")
    _done(study, 0.95, cv_ece=MAX_CV_ECE + 0.01)
    _done(study, 0.90, cv_ece=MAX_CV_ECE)
    over, within = study.trials
    assert not is_feasible(over) and is_feasible(within)
    assert pick_best(study).number == within.number


def test_with_no_feasible_trial_behaviour_failures_weigh_before_calibration():
    study = optuna.create_study(direction="maximize")
    _done(study, 0.90, cv_ece=0.2)
    _done(study, 0.97, cv_ece=0.01, behaviour_failures=1)
    _done(study, 0.91, cv_ece=0.3)
    assert pick_best(study).number == 2  # the highest score among the trials that pass the behavioural tests


def tiny_space(trial: optuna.Trial, base: TrainArgs) -> TrainArgs:
    return replace(base, analyzer="word", word_ngram_max=1, num_epochs=3, classifier="sgd", tune_threshold=False,
                   alpha=trial.suggest_float("alpha_sgd", 1e-5, 1e-3, log=True))


@pytest.fixture(scope="module")
def search(tracking_uri, tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "best.json"
    base = TrainArgs(analyzer="word", word_ngram_max=1, num_epochs=3, tune_threshold=False)
    result = optimize(n_trials=3, experiment_name=f"tests-optimize-{uuid.uuid4().hex[:6]}", base_args=base,
                      n_splits=3, n_repeats=1, write_args=out, show_progress=False, search_space=tiny_space)
    return result, out


@pytest.mark.slow
def test_every_trial_is_a_nested_run_with_its_params_and_cv_metrics(search):
    result, _ = search
    client = MlflowClient()
    children = client.search_runs([client.get_run(result.parent_run_id).info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'")
    assert len(children) == 3
    for child in children:
        assert child.data.params["classifier"] == "sgd" and "alpha" in child.data.params
        number = int(child.data.tags["optuna_trial"])
        assert child.info.run_name == f"trial-{number:03d}-sgd-word1-1"  # readable in the MLflow UI
        note = child.data.tags["mlflow.note.content"]
        assert note.startswith("sgd on word 1-1 TF-IDF") and ("cv f1 " in note or "pruned after" in note)
        if child.data.tags["trial_state"] == "COMPLETE":
            assert {"cv_f1_mean", "cv_f1_std", "behaviour_failures", "cv_ece"} <= set(child.data.metrics)
    assert sum(c.data.tags["trial_state"] == "COMPLETE" for c in children) >= 1
    for trial in result.study.trials:  # the calibration limit is one of the constraints TPE is given
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert trial.constraints["cv_ece_over_limit"] == pytest.approx(trial.user_attrs["cv_ece"] - MAX_CV_ECE)


@pytest.mark.slow
def test_the_parent_run_holds_best_params_summary_and_plots(search):
    result, _ = search
    parent = MlflowClient().get_run(result.parent_run_id)
    assert parent.data.params["alpha"] == str(result.best_args.alpha)
    assert parent.data.metrics["best_cv_f1_mean"] == pytest.approx(result.best_cv[0])
    assert parent.data.metrics["n_trials"] == 3
    names = {a.path for a in MlflowClient().list_artifacts(result.parent_run_id)}
    assert {"study_summary.json", "best_args.json", "trials.csv", "optimization_history.png",
            "param_importances.png"} <= names
    summary = mlflow.artifacts.load_dict(f"runs:/{result.parent_run_id}/study_summary.json")
    assert summary["best"]["trial"] == result.best_trial.number
    assert summary["settings"]["cv"] == "repeated stratified 3-fold x1"


@pytest.mark.slow
def test_the_written_args_file_is_the_best_trial_and_complete(search):
    result, path = search
    written = json.loads(Path(path).read_text())
    assert TrainArgs.from_file(path) == result.best_args
    assert set(written) == set(TrainArgs.__dataclass_fields__)  # every field, as config/args.json needs


@pytest.mark.slow
def test_trial_zero_is_the_configuration_we_started_from(search):
    result, _ = search
    assert result.study.trials[0].params == {"alpha_sgd": TrainArgs().alpha}


@pytest.mark.slow
def test_optimize_command(tracking_uri, tmp_path):
    base = TrainArgs(analyzer="word", word_ngram_max=1, num_epochs=3, tune_threshold=False, classifier="sgd")
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps(base.__dict__))
    out = tmp_path / "best.json"
    result = CliRunner().invoke(app, ["optimize", "--trials", "2", "--experiment-name", "tests-optimize-cli",
                                      "--args-file", str(args_file), "--write-args", str(out)])
    assert result.exit_code == 0, result.output
    assert "best: trial" in result.stdout and f"wrote {out}" in result.stdout
    TrainArgs.from_file(out)


def wide_space(trial: optuna.Trial, base: TrainArgs) -> TrainArgs:
    return replace(base, analyzer="word", word_ngram_max=1, num_epochs=3, classifier="sgd", tune_threshold=False,
                   alpha=trial.suggest_float("alpha_sgd", 1e-5, 10.0, log=True))


@pytest.mark.slow
def test_finalists_are_confirmed_on_more_fold_seeds_and_a_lucky_trial_loses(tracking_uri):
    """A trial whose search score was luck (here: recorded high, but alpha=10 cannot learn) is found out when
    the finalists are scored on another fold assignment, and the winner is the one that holds up."""
    from tagifai.crossval import cross_validate
    from tagifai.data import load_projects
    from tagifai.search import _Objective, confirm, pick_best

    df, _ = load_projects(config.DATA_PATH)
    base = TrainArgs(analyzer="word", word_ngram_max=1, num_epochs=3, tune_threshold=False)
    objective = _Objective(df, base, n_splits=3, n_repeats=1, space=wide_space)
    study = optuna.create_study(direction="maximize")
    mlflow.set_experiment(f"tests-confirm-{uuid.uuid4().hex[:6]}")
    distributions = {"alpha_sgd": optuna.distributions.FloatDistribution(1e-5, 10.0, log=True)}
    for alpha, scores, failures in ((10.0, [0.99] * 3, 0), (1e-4, None, 0), (1e-4, [1.0] * 3, 2)):
        args = wide_space(optuna.trial.FixedTrial({"alpha_sgd": alpha}), base)
        if scores is None:
            scores = list(cross_validate(df, args, 3, 1).scores)
        with mlflow.start_run() as run:
            pass
        study.add_trial(optuna.trial.create_trial(
            params={"alpha_sgd": alpha}, distributions=distributions, value=sum(scores) / 3,
            user_attrs={"run_id": run.info.run_id, "cv_scores": scores, "behaviour_failures": failures,
                        "cost_ratio": 1.0, "cv_f1_std": 0.0}))
    lucky, sound, infeasible = study.trials
    assert pick_best(study).number == lucky.number  # on the search's own fold seed, luck wins

    confirmed = confirm(objective, study, top=2, extra_seeds=1)

    assert set(confirmed) == {lucky.number, sound.number}  # the infeasible trial is no finalist
    assert confirmed[sound.number]["fold_seeds"] == [base.seed, base.seed + 1]
    again = cross_validate(df, wide_space(optuna.trial.FixedTrial(sound.params), base), 3, 1, seed=base.seed + 1)
    both = [*sound.user_attrs["cv_scores"], *again.scores]
    assert confirmed[sound.number]["mean"] == pytest.approx(sum(both) / 6)
    assert confirmed[lucky.number]["mean"] < confirmed[sound.number]["mean"]
    assert pick_best(study, {n: c["mean"] for n, c in confirmed.items()}).number == sound.number
    logged = MlflowClient().get_run(sound.user_attrs["run_id"]).data.metrics
    assert logged["cv_f1_confirmed_mean"] == pytest.approx(confirmed[sound.number]["mean"])
