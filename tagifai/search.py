"""Hyperparameter search: Optuna TPE over features and classifiers, scored by repeated stratified CV.

The objective is `crossval.cross_validate`: weighted F1 on held-out folds of train + validation (the test
split is never touched), each fold re-running the whole training procedure. Before its CV, each trial's
model (trained as `tagifai train` would, on the train split; no test scoring) runs the behavioural tests and
has its predict cost timed against the original design's model (tagifai.cost): a configuration that fails a
case (the promotion gate would refuse it) or costs more than 1.5x the original per row (tagifai.cost.MAX_COST_RATIO) is
infeasible, and so is one whose held-out probabilities are miscalibrated (cv_ece above
tagifai.calibration.MAX_CV_ECE, known once its CV is done): three Optuna constraints, which TPE uses. Each fold's running mean goes to a median pruner, which
may stop infeasible trials early; feasible ones always get their full CV. The best feasible trials are then
scored on more fold seeds (`confirm`), and the winner is the finalist with the highest CV mean over all of them
(or, if none is feasible, the trial with the fewest failures).

MLflow: one parent run per search (best args as params, study summary, trials table and plots as
artifacts) and one nested run per trial (its args as params; cv_f1_mean / cv_f1_std, per-fold scores,
behaviour failures, cost_ratio and cv_ece as metrics).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import optuna
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tagifai import config
from tagifai.args import CHOICES, TrainArgs
from tagifai.behaviour import for_predictor, run_behaviour
from tagifai.calibration import MAX_CV_ECE
from tagifai.cost import MAX_COST_RATIO, original_args, relative_cost
from tagifai.crossval import N_REPEATS, N_SPLITS, cross_validate
from tagifai.data import file_digest, load_projects
from tagifai.errors import TagifaiError
from tagifai.plots import optimization_history_figure, param_importances_figure
from tagifai.predict import Predictor
from tagifai.split import split_data
from tagifai.train import fit_model, prepare

logger = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "tagifai-optimize"
# Regularisation ranges per classifier (alpha; C = 1 / (alpha * n_samples) for logreg / svm / nbsvm).
# The lower ends of logreg / svm / nbsvm keep C <= ~20: fast convergence, and smaller alphas were no better.
ALPHA_RANGES = {"sgd": (1e-6, 1e-3), "logreg": (1e-4, 3e-2), "svm": (1e-4, 3e-2), "nbsvm": (1e-4, 3e-2)}
MIN_THRESHOLD_RANGE = (0.0, 0.6)
MAX_DF_CHOICES = (0.5, 0.75, 1.0)
EMBEDDING_SCALE_RANGE = (0.25, 2.0)  # the embedding block's norm against the TF-IDF block's (1)
UNCLAIMED_RANGE = (0.0, 1.0)
COST_BATCH = 1000
# (trial, base args) -> the trial's args; `suggest_args` is the real one (tests pass a tiny one).
SearchSpace = Callable[[optuna.Trial, TrainArgs], TrainArgs]


def suggest_args(trial: optuna.Trial, base: TrainArgs) -> TrainArgs:
    """The search space. Conditional: only what has an effect for the sampled choices is sampled."""
    classifier = trial.suggest_categorical("classifier", list(ALPHA_RANGES))
    analyzer = trial.suggest_categorical("analyzer", ["word", "char_wb", "union"])
    values: dict[str, Any] = {"classifier": classifier, "analyzer": analyzer}
    if analyzer != "char_wb":
        values["word_ngram_max"] = trial.suggest_int("word_ngram_max", 1, 3)
    if analyzer != "word":
        values["char_ngram_min"] = trial.suggest_int("char_ngram_min", 1, 3)
        values["ngram_max_range"] = trial.suggest_int("ngram_max_range", 4, 6)
    values["sublinear_tf"] = trial.suggest_categorical("sublinear_tf", [True, False])
    values["min_df"] = trial.suggest_int("min_df", 1, 3)
    values["max_df"] = trial.suggest_categorical("max_df", list(MAX_DF_CHOICES))
    values["stem"] = trial.suggest_categorical("stem", [False, True])
    values["class_balance"] = trial.suggest_categorical("class_balance", ["weights", "oversample", "none"])
    values["embedding"] = trial.suggest_categorical("embedding", list(CHOICES["embedding"]))
    if values["embedding"] != "none":
        values["embedding_scale"] = trial.suggest_float("embedding_scale", *EMBEDDING_SCALE_RANGE, log=True)
    low, high = ALPHA_RANGES[classifier]
    values["alpha"] = trial.suggest_float(f"alpha_{classifier}", low, high, log=True)
    if classifier == "sgd":
        values["loss"] = trial.suggest_categorical("loss", ["log_loss", "modified_huber"])
    if classifier in ("svm", "nbsvm"):
        values["unclaimed_to_other"] = trial.suggest_float("unclaimed_to_other", *UNCLAIMED_RANGE)
    values["tune_threshold"] = trial.suggest_categorical("tune_threshold", [True, False])
    if values["tune_threshold"]:
        # The floor is what the behavioural tests may need; `oof` tunes on out-of-fold probabilities of the
        # train split (3 more fits per fit) instead of on the 15% validation split.
        values["threshold_method"] = trial.suggest_categorical("threshold_method", ["val", "oof"])
        values["min_threshold"] = trial.suggest_float("min_threshold", *MIN_THRESHOLD_RANGE)
    return replace(base, **values)


def trial_params(args: TrainArgs) -> dict[str, Any]:
    """The inverse of `suggest_args`: Optuna params that give back `args` (to enqueue a known configuration)."""
    params: dict[str, Any] = {"classifier": args.classifier, "analyzer": args.analyzer}
    if args.analyzer != "char_wb":
        params["word_ngram_max"] = args.word_ngram_max
    if args.analyzer != "word":
        params["char_ngram_min"] = args.char_ngram_min
        params["ngram_max_range"] = args.ngram_max_range
    params.update(sublinear_tf=args.sublinear_tf, min_df=args.min_df, max_df=args.max_df, stem=args.stem,
                  class_balance=args.class_balance, embedding=args.embedding, tune_threshold=args.tune_threshold)
    if args.embedding != "none":
        params["embedding_scale"] = args.embedding_scale
    params[f"alpha_{args.classifier}"] = args.alpha
    if args.classifier == "sgd":
        params["loss"] = args.loss
    if args.classifier in ("svm", "nbsvm"):
        params["unclaimed_to_other"] = args.unclaimed_to_other
    if args.tune_threshold:
        params["threshold_method"] = args.threshold_method
        params["min_threshold"] = args.min_threshold
    return params


@dataclass
class SearchResult:
    study: optuna.Study
    best_args: TrainArgs
    best_trial: optuna.trial.FrozenTrial
    parent_run_id: str
    experiment_name: str
    summary: dict

    @property
    def best_cv(self) -> tuple[float, float]:
        return float(self.best_trial.value), float(self.best_trial.user_attrs["cv_f1_std"])


def _too_slow(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.user_attrs.get("cost_ratio", 0.0) > MAX_COST_RATIO


def _miscalibrated(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.user_attrs.get("cv_ece", 0.0) > MAX_CV_ECE  # unknown (no full CV): judged by the others


def is_feasible(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.user_attrs.get("behaviour_failures", 1) == 0 and not _too_slow(trial) and not _miscalibrated(trial)


def finalists(study: optuna.Study, top: int) -> list[optuna.trial.FrozenTrial]:
    """The `top` feasible completed trials by CV mean (best first)."""
    feasible = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and is_feasible(t)]
    return sorted(feasible, key=lambda t: (-t.value, t.number))[:top]


def pick_best(study: optuna.Study, confirmed: dict[int, float] | None = None) -> optuna.trial.FrozenTrial:
    """Highest CV mean among completed trials that pass the behavioural tests within the cost and calibration
    limits (among the `confirmed` finalists, their CV mean over every fold seed); if none is feasible, the one with
    the fewest behavioural failures (then within the cost limit, then within the calibration limit, then the
    highest CV mean)."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise TagifaiError("no trial completed: nothing to pick (raise --trials or --timeout)")
    if confirmed:
        return max((t for t in complete if t.number in confirmed), key=lambda t: (confirmed[t.number], -t.number))
    feasible = [t for t in complete if is_feasible(t)]
    if feasible:
        return max(feasible, key=lambda t: (t.value, -t.number))
    return min(complete, key=lambda t: (t.user_attrs.get("behaviour_failures", 1e9), _too_slow(t),
                                        _miscalibrated(t), -t.value, t.number))


class _Objective:
    """One trial = one nested MLflow run: sample args, cross-validate with pruning, check behaviour."""

    def __init__(self, df: pd.DataFrame, base: TrainArgs, n_splits: int, n_repeats: int, space: SearchSpace):
        self.df, self.base, self.n_splits, self.n_repeats, self.space = df, base, n_splits, n_repeats, space
        self._prepared: dict[tuple, pd.DataFrame] = {}
        self._reference = None
        # The batch the predict cost is timed on: 1000 project texts (the cost limit is set at batch 1000).
        self.cost_texts = df["text"].sample(COST_BATCH, replace=True, random_state=base.seed).tolist()

    def prepared(self, args: TrainArgs) -> pd.DataFrame:
        key = (args.lower, args.stem_when_cleaning, args.min_freq)
        if key not in self._prepared:
            self._prepared[key] = prepare(self.df, args)[0]
        return self._prepared[key]

    def candidate(self, args: TrainArgs) -> Predictor:
        """The model `tagifai train` would ship for these args (train split, threshold), no test scoring."""
        data = self.prepared(args)
        splits = split_data(data, "label", val_size=args.val_size, test_size=args.test_size, seed=args.seed)
        return fit_model(splits.train, splits.val, args).predictor

    def cost_ratio(self, predictor: Predictor) -> float:
        """Predict cost per row at batch 1000 relative to the original design's model, timed side by side."""
        if self._reference is None:
            self._reference = self.candidate(original_args(self.base))
        return relative_cost(predictor, self._reference, self.cost_texts)

    def __call__(self, trial: optuna.Trial) -> float:
        args = self.space(trial, self.base)
        started = time.monotonic()
        scores: list[float] = []
        pruned = False
        with mlflow.start_run(run_name=f"trial-{trial.number:03d}-{args.short_name()}", nested=True) as run:
            trial.set_user_attr("run_id", run.info.run_id)
            mlflow.log_params(args.to_params())
            mlflow.set_tags({"optuna_trial": trial.number, "optuna_params": json.dumps(trial.params)})
            # Behaviour and cost first (one fit): they decide whether this trial may be pruned.
            predictor = self.candidate(args)
            failures = [r.name for r in run_behaviour(for_predictor(predictor)).failures]
            cost = self.cost_ratio(predictor)
            trial.set_user_attr("behaviour_failures", len(failures))
            trial.set_user_attr("failed_cases", failures)
            trial.set_user_attr("cost_ratio", cost)
            trial.set_constraint("behaviour_failures", float(len(failures)))  # <= 0 is feasible
            trial.set_constraint("cost_over_limit", cost - MAX_COST_RATIO)
            infeasible = bool(failures) or cost > MAX_COST_RATIO
            mlflow.set_tag("behaviour_failed_cases", ",".join(failures) or "-")
            mlflow.log_metrics({"behaviour_failures": len(failures), "cost_ratio": cost})

            def on_fold(i: int, score: float) -> None:
                scores.append(score)
                mlflow.log_metric("cv_f1_fold", score, step=i)
                trial.report(float(np.mean(scores)), i)
                # Only a configuration the search would refuse anyway is pruned: a feasible one always gets its
                # full CV, even when it trails the median of (mostly infeasible) trials after a few folds.
                if infeasible and trial.should_prune():
                    raise optuna.TrialPruned()

            try:
                cv = cross_validate(self.df, args, self.n_splits, self.n_repeats, on_fold=on_fold,
                                    prepared=self.prepared(args))
            except optuna.TrialPruned:
                pruned = True
                mlflow.set_tag("trial_state", "PRUNED")
                mlflow.log_metrics({"cv_f1_mean_partial": float(np.mean(scores)), "cv_folds_done": len(scores)})
            else:
                trial.set_user_attr("cv_f1_std", cv.std)
                trial.set_user_attr("cv_scores", list(cv.scores))
                trial.set_user_attr("cv_ece", cv.ece)
                trial.set_constraint("cv_ece_over_limit", cv.ece - MAX_CV_ECE)
                mlflow.set_tag("trial_state", "COMPLETE")
                mlflow.log_metrics({"cv_f1_mean": cv.mean, "cv_f1_std": cv.std, "cv_ece": cv.ece})
            mlflow.log_metric("duration_s", time.monotonic() - started)
            outcome = (f"pruned after {len(scores)} folds (cv f1 {np.mean(scores):.4f} so far)" if pruned
                       else f"cv f1 {cv.mean:.4f} ± {cv.std:.4f} · cv ece {cv.ece:.4f}")
            mlflow.set_tag("mlflow.note.content", f"{args.describe()}\n\n{outcome} · behaviour failures "
                                                  f"{len(failures)} · cost ratio {cost:.2f}")
        if pruned:
            raise optuna.TrialPruned()
        return cv.mean


def confirm(objective: _Objective, study: optuna.Study, top: int, extra_seeds: int,
            on_done: Callable[[int], None] = lambda n: None) -> dict[int, dict]:
    """Score the `top` feasible trials again on `extra_seeds` more fold assignments (fold seeds args.seed + 1,
    + 2, ...): {trial number: mean and std over all their folds, fold seeds}.

    Why: the best of many trials scored on one fold assignment is partly the luckiest (the winner's curse);
    here the top configurations differ by less than the spread between fold seeds."""
    out: dict[int, dict] = {}
    if extra_seeds < 1:
        return out
    client = mlflow.MlflowClient()
    for trial in finalists(study, top):
        args = objective.space(optuna.trial.FixedTrial(trial.params), objective.base)
        seeds = [args.seed + k for k in range(extra_seeds + 1)]
        scores = list(trial.user_attrs["cv_scores"])  # fold seed args.seed, from the trial itself
        for seed in seeds[1:]:
            scores += cross_validate(objective.df, args, objective.n_splits, objective.n_repeats, seed=seed,
                                     prepared=objective.prepared(args)).scores
        out[trial.number] = {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "fold_seeds": seeds}
        for name in ("mean", "std"):
            client.log_metric(trial.user_attrs["run_id"], f"cv_f1_confirmed_{name}", out[trial.number][name])
        on_done(trial.number)
    return out


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]optimize"), BarColumn(), MofNCompleteColumn(), TextColumn("trials"),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), transient=False,
    )


def _importances(study: optuna.Study) -> dict[str, float]:
    """Parameter importances (Optuna's default evaluator) over the completed trials; {} if too few."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 3:
        return {}
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (ValueError, RuntimeError) as exc:  # e.g. every trial sampled the same value
        logger.warning("parameter importances unavailable: %s", exc)
        return {}


def _summary(study: optuna.Study, best: optuna.trial.FrozenTrial, best_args: TrainArgs, settings: dict,
             importances: dict[str, float], duration: float, confirmation: dict[int, dict]) -> dict:
    states: dict[str, int] = {}
    for t in study.trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    baseline = study.trials[0] if study.trials and study.trials[0].state.name == "COMPLETE" else None
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    top = max(complete, key=lambda t: t.value) if complete else None
    return {
        "settings": settings,
        "duration_s": round(duration, 1),
        "trials": states,
        "best": {
            "trial": best.number, "run_id": best.user_attrs.get("run_id"),
            "cv_f1_mean": best.value, "cv_f1_std": best.user_attrs.get("cv_f1_std"),
            "behaviour_failures": best.user_attrs.get("behaviour_failures"),
            "cost_ratio": best.user_attrs.get("cost_ratio"), "cv_ece": best.user_attrs.get("cv_ece"),
            "confirmed": confirmation.get(best.number),
            "params": best.params, "args": asdict(best_args),
        },
        "confirmation": {str(n): c for n, c in confirmation.items()},
        "baseline": None if baseline is None else {
            "trial": baseline.number, "cv_f1_mean": baseline.value,
            "cv_f1_std": baseline.user_attrs.get("cv_f1_std"),
            "behaviour_failures": baseline.user_attrs.get("behaviour_failures"),
            "cv_ece": baseline.user_attrs.get("cv_ece"), "params": baseline.params,
        },
        # What the behavioural constraint costs: the best completed trial, feasible or not.
        "best_unconstrained": None if top is None else {
            "trial": top.number, "cv_f1_mean": top.value, "cv_f1_std": top.user_attrs.get("cv_f1_std"),
            "behaviour_failures": top.user_attrs.get("behaviour_failures"),
            "failed_cases": top.user_attrs.get("failed_cases"), "cost_ratio": top.user_attrs.get("cost_ratio"),
            "cv_ece": top.user_attrs.get("cv_ece"), "params": top.params,
        },
        "importances": importances,
    }


def _trials_frame(study: optuna.Study) -> pd.DataFrame:
    rows = []
    for t in study.trials:
        rows.append({
            "trial": t.number, "state": t.state.name, "cv_f1_mean": t.value,
            "cv_f1_std": t.user_attrs.get("cv_f1_std"), "behaviour_failures": t.user_attrs.get("behaviour_failures"),
            "cost_ratio": t.user_attrs.get("cost_ratio"), "cv_ece": t.user_attrs.get("cv_ece"),
            "failed_cases": ",".join(t.user_attrs.get("failed_cases", [])),
            "duration_s": t.duration.total_seconds() if t.duration else None,
            "run_id": t.user_attrs.get("run_id"), **{f"param_{k}": v for k, v in t.params.items()},
        })
    return pd.DataFrame(rows)


def optimize(
    n_trials: int = 30, timeout: float | None = None, experiment_name: str = DEFAULT_EXPERIMENT,
    data_path: Path = config.DATA_PATH, base_args: TrainArgs | None = None, n_splits: int = N_SPLITS,
    n_repeats: int = N_REPEATS, write_args: Path | None = None, show_progress: bool = True,
    search_space: SearchSpace = suggest_args,
    enqueue_base: bool = True, confirm_top: int = 5, confirm_seeds: int = 2,
) -> SearchResult:
    """Run the search, then `confirm` its `confirm_top` best feasible trials on `confirm_seeds` more fold
    assignments and pick among them; log it to MLflow; optionally write the winning args (all fields) to
    `write_args`."""
    base = base_args or TrainArgs.from_file(config.ARGS_PATH)
    mlflow.set_tracking_uri(config.tracking_uri())
    df, _ = load_projects(data_path)
    if os.environ.get("MLFLOW_RUN_ID"):
        logger.info("running inside `mlflow run`; experiment chosen by mlflow run, not %r", experiment_name)
    else:
        mlflow.set_experiment(experiment_name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # TPE `group`
    sampler = optuna.samplers.TPESampler(seed=base.seed, multivariate=True, group=True, n_startup_trials=10)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=4)  # judged after a full 5-fold pass
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner,
                                study_name=f"tagifai-{time.strftime('%Y%m%d-%H%M%S')}")
    if enqueue_base:
        study.enqueue_trial(trial_params(base), skip_if_exists=True)  # trial 0: the configuration we start from
    settings = {
        "n_trials": n_trials, "timeout_s": timeout, "cv": f"repeated stratified {n_splits}-fold x{n_repeats}",
        "cv_data": "train+val (test split excluded)", "objective": "mean weighted F1 over folds",
        "sampler": (f"TPE (multivariate, group, seed={base.seed}, 10 startup trials, behaviour, cost and "
                    f"cv_ece <= {MAX_CV_ECE} constraints)"),
        "pruner": "MedianPruner(n_startup_trials=5, n_warmup_steps=4) on the running fold mean",
        "confirmation": f"top {confirm_top} feasible trials re-scored on {confirm_seeds} more fold seeds",
    }
    objective = _Objective(df, base, n_splits, n_repeats, search_space)
    started = time.monotonic()
    # Under `mlflow run` the parent run exists already (MLFLOW_RUN_ID): resume it, keep its name.
    with mlflow.start_run(run_name=None if os.environ.get("MLFLOW_RUN_ID") else "optimize") as parent:
        mlflow.set_tags({"data_digest": file_digest(data_path), "search": "optuna"})
        mlflow.log_params({f"search_{k}": v for k, v in settings.items()})
        with _progress() if show_progress else _NoProgress() as progress:
            task = progress.add_task("optimize", total=n_trials, status="")

            def on_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
                done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
                feasible = [t.value for t in done if is_feasible(t)]
                best = f"{max(feasible):.4f}" if feasible else "-"
                pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
                progress.update(task, completed=len(study.trials),
                                status=f"best feasible cv_f1={best} feasible={len(feasible)} pruned={pruned}")

            # A configuration scikit-learn rejects (ValueError) fails its trial, not the search.
            study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[on_trial], catch=(ValueError,))
            check = progress.add_task("confirm", total=len(finalists(study, confirm_top)) if confirm_seeds else 0,
                                      status=f"top trials on {confirm_seeds} more fold seeds")
            confirmation = confirm(objective, study, confirm_top, confirm_seeds,
                                   on_done=lambda n: progress.advance(check))
        best = pick_best(study, {n: c["mean"] for n, c in confirmation.items()})
        best_args = search_space(optuna.trial.FixedTrial(best.params), base)
        duration = time.monotonic() - started
        importances = _importances(study)
        summary = _summary(study, best, best_args, settings, importances, duration, confirmation)
        _log_parent(study, best, best_args, summary, importances)
    if write_args is not None:
        Path(write_args).write_text(json.dumps(asdict(best_args), indent=2) + "\n")
        logger.info("wrote the winning arguments to %s", write_args)
    return SearchResult(study, best_args, best, parent.info.run_id, experiment_name, summary)


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *args, **kwargs):
        return 0

    def update(self, *args, **kwargs):
        pass

    def advance(self, *args, **kwargs):
        pass


def _log_parent(study, best, best_args: TrainArgs, summary: dict, importances: dict[str, float]) -> None:
    mlflow.log_params(best_args.to_params())
    mlflow.log_metrics({
        "best_cv_f1_mean": float(best.value), "best_cv_f1_std": float(best.user_attrs["cv_f1_std"]),
        "best_behaviour_failures": float(best.user_attrs.get("behaviour_failures", -1)),
        "best_cv_ece": float(best.user_attrs.get("cv_ece", float("nan"))),
        "n_trials": len(study.trials),
        "n_trials_complete": summary["trials"].get("COMPLETE", 0),
        "n_trials_pruned": summary["trials"].get("PRUNED", 0),
        "duration_s": summary["duration_s"],
    })
    if summary["best"]["confirmed"]:
        mlflow.log_metrics({f"best_cv_f1_confirmed_{k}": summary["best"]["confirmed"][k] for k in ("mean", "std")})
    if summary["baseline"] is not None:
        mlflow.log_metric("baseline_cv_f1_mean", float(summary["baseline"]["cv_f1_mean"]))
    if summary["best_unconstrained"] is not None:
        mlflow.log_metric("best_unconstrained_cv_f1_mean", float(summary["best_unconstrained"]["cv_f1_mean"]))
    mlflow.set_tags({"best_trial": best.number, "best_run_id": best.user_attrs.get("run_id", ""),
                     "best_is_feasible": str(is_feasible(best)).lower()})
    mlflow.log_dict(summary, "study_summary.json")
    mlflow.log_dict(asdict(best_args), "best_args.json")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trials.csv"
        _trials_frame(study).to_csv(path, index=False)
        mlflow.log_artifact(str(path))
    for name, fig in (("optimization_history.png", optimization_history_figure(study, best.number)),
                      ("param_importances.png", param_importances_figure(importances))):
        mlflow.log_figure(fig, name)
