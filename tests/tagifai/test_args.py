"""Training arguments: loading, overriding from the command line, validation, what gets logged."""

from __future__ import annotations

import json
from dataclasses import asdict, fields, replace

import pytest

from tagifai import config
from tagifai.args import CHOICES, TrainArgs, parse_overrides
from tagifai.errors import InvalidArgsError


def test_loads_the_shipped_args_file():
    args = TrainArgs.from_file(config.ARGS_PATH)
    assert asdict(args) == json.loads(config.ARGS_PATH.read_text())


def test_overrides_from_key_value_strings_are_coerced():
    overrides = parse_overrides(
        ["alpha=1e-3", "num_epochs=5", "lower=false", "stem=Yes", "analyzer=word", "val_size=0.2", "min_df=2.0"]
    )
    args = TrainArgs.from_file(config.ARGS_PATH, overrides)
    assert args.alpha == 1e-3 and isinstance(args.alpha, float)
    assert args.num_epochs == 5 and isinstance(args.num_epochs, int)
    assert args.lower is False
    assert args.stem is True
    assert args.analyzer == "word"
    assert args.val_size == 0.2
    assert args.min_df == 2 and isinstance(args.min_df, int)
    # not overridden: from the file
    assert args.seed == json.loads(config.ARGS_PATH.read_text())["seed"]


def test_override_splits_at_the_first_equals_sign():
    assert parse_overrides(["x=a=b", " alpha =1e-4"]) == {"x": "a=b", "alpha": "1e-4"}


@pytest.mark.parametrize("pair", ["alpha", "=3", ""])
def test_override_without_key_value_is_refused(pair):
    with pytest.raises(InvalidArgsError, match="expected key=value"):
        parse_overrides([pair])


def test_unknown_key_lists_the_known_ones():
    with pytest.raises(InvalidArgsError) as exc:
        TrainArgs.from_file(config.ARGS_PATH, {"learning_rte": "0.1"})
    message = str(exc.value)
    assert "unknown argument(s): learning_rte" in message
    for f in fields(TrainArgs):
        assert f.name in message


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("num_epochs", "five", "num_epochs='five': expected int"),
        ("num_epochs", "2.5", "num_epochs='2.5': expected int"),
        ("alpha", "small", "alpha='small': expected float"),
        ("lower", "maybe", "lower='maybe': expected bool"),
    ],
)
def test_wrong_type_names_the_field_and_the_type(name, value, expected):
    with pytest.raises(InvalidArgsError) as exc:
        TrainArgs.from_dict({name: value})
    assert str(exc.value) == expected


@pytest.mark.parametrize(
    "name, value",
    [("analyzer", "bpe"), ("classifier", "random_forest"), ("loss", "hinge"), ("learning_rate", "fast"), ("class_balance", "x")],
)
def test_bad_choice_names_the_field_and_the_choices(name, value):
    with pytest.raises(InvalidArgsError) as exc:
        TrainArgs.from_dict({name: value})
    assert str(exc.value) == f"{name}={value!r}: must be one of {', '.join(CHOICES[name])}"


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"alpha": "0"}, "alpha=0.0: must be > 0"),
        ({"eta0": "-0.1"}, "eta0=-0.1: must be > 0"),
        ({"num_epochs": "0"}, "num_epochs=0: must be > 0"),
        ({"min_df": "0"}, "min_df=0: must be > 0"),
        ({"ngram_max_range": "1", "char_ngram_min": "2"}, "ngram_max_range=1: must be >= 2"),
        ({"min_freq": "0"}, "min_freq=0: must be >= 1"),
        ({"seed": "-1"}, "seed=-1: must be >= 0"),
        ({"val_size": "0"}, "val_size=0.0: must be between 0 and 1"),
        ({"test_size": "1.5"}, "test_size=1.5: must be between 0 and 1"),
        ({"val_size": "0.5", "test_size": "0.5"}, "val_size + test_size = 1: must be < 1"),
    ],
)
def test_out_of_range_names_the_field_and_the_rule(overrides, fragment):
    with pytest.raises(InvalidArgsError) as exc:
        TrainArgs.from_file(config.ARGS_PATH, overrides)
    assert fragment in str(exc.value)


def test_unreadable_args_file(tmp_path):
    path = tmp_path / "args.json"
    path.write_text("{not json")
    with pytest.raises(InvalidArgsError, match="cannot read arguments") as exc:
        TrainArgs.from_file(path)
    assert str(path) in str(exc.value)
    with pytest.raises(InvalidArgsError, match="cannot read arguments"):
        TrainArgs.from_file(tmp_path / "missing.json")


def test_to_params_for_sgd_has_every_argument_that_has_an_effect():
    args = TrainArgs(classifier="sgd")
    not_for_sgd = {"embedding_scale", "unclaimed_to_other"}
    assert args.to_params() == {k: v for k, v in asdict(args).items() if k not in not_for_sgd}
    for table in ("minilm64", "minilm64_learned"):
        with_embedding = replace(args, embedding=table, embedding_scale=0.5)
        assert with_embedding.to_params() == {k: v for k, v in asdict(with_embedding).items()
                                              if k != "unclaimed_to_other"}


@pytest.mark.parametrize("classifier", [c for c in CHOICES["classifier"] if c != "sgd"])
def test_to_params_drops_sgd_only_args_for_other_classifiers(classifier):
    params = TrainArgs(classifier=classifier).to_params()
    for sgd_only in ("loss", "learning_rate", "eta0", "num_epochs"):
        assert sgd_only not in params
    assert params["classifier"] == classifier
    assert params["alpha"] == TrainArgs().alpha  # alpha means something to every classifier
    calibrated_only = set() if classifier in ("svm", "nbsvm") else {"unclaimed_to_other"}
    assert set(params) == {f.name for f in fields(TrainArgs)} - {"loss", "learning_rate", "eta0", "num_epochs",
                                                                 "embedding_scale", *calibrated_only}
