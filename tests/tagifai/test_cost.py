"""tagifai.cost: the predict-cost ratio the search constrains (timing logic on a fake clock: no timed test)."""

from __future__ import annotations

import optuna
import pytest

import tagifai.cost as cost
from tagifai.args import TrainArgs
from tagifai.search import pick_best


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Model:
    """predict_proba advances the fake clock: `first` on its first (warm-up) call, `then` afterwards."""

    def __init__(self, clock: FakeClock, first: float, then: float):
        self.clock, self.first, self.then, self.calls = clock, first, then, 0

    def predict_proba(self, texts):
        self.clock.now += self.first if self.calls == 0 else self.then
        self.calls += 1


def test_ratio_of_warm_calls_side_by_side(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(cost.time, "perf_counter", clock)
    slow, fast = Model(clock, first=100.0, then=3.0), Model(clock, first=100.0, then=2.0)
    assert cost.relative_cost(slow, fast, ["a text"], rounds=5) == pytest.approx(1.5)
    assert slow.calls == fast.calls == 6  # one warm-up each (its cold cost is not counted), then 5 rounds


def test_original_design_on_the_same_data_settings():
    like = TrainArgs(seed=7, val_size=0.2, test_size=0.1, min_freq=10, analyzer="word", embedding="minilm64")
    original = cost.original_args(like)
    assert (original.seed, original.val_size, original.test_size, original.min_freq) == (7, 0.2, 0.1, 10)
    assert (original.analyzer, original.char_ngram_min, original.ngram_max_range) == ("char_wb", 2, 5)
    assert (original.classifier, original.embedding) == ("sgd", "none")


def trial(value: float, failures: int, cost_ratio: float) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(value=value, user_attrs={"behaviour_failures": failures, "cv_f1_std": 0.0,
                                                              "cost_ratio": cost_ratio})


def test_the_search_picks_the_best_trial_within_the_cost_limit():
    study = optuna.create_study(direction="maximize")
    for t in (trial(0.95, 0, 1.6), trial(0.93, 1, 1.0), trial(0.91, 0, 1.4), trial(0.90, 0, 1.0)):
        study.add_trial(t)
    assert pick_best(study).value == 0.91


def test_with_no_feasible_trial_the_fewest_failures_then_within_the_limit():
    study = optuna.create_study(direction="maximize")
    for t in (trial(0.95, 1, 1.6), trial(0.90, 1, 1.2), trial(0.97, 2, 1.0)):
        study.add_trial(t)
    assert pick_best(study).value == 0.90
