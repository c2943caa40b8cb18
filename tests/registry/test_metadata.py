"""`tagifai args` and `tagifai performance`: a model's training arguments and metrics, read back from its run."""

from __future__ import annotations

import json
import uuid

import mlflow
import pytest

from registry.transitions import promote

pytestmark = pytest.mark.slow

URI_KINDS = ("alias", "stage", "version", "logged_model")


@pytest.fixture(scope="module")
def registered(tracking_uri, trained_run) -> dict[str, str]:
    """trained_run registered as version 1 (champion, Production) of a model name of its own; its URIs."""
    name = f"tagifai-{uuid.uuid4().hex[:10]}"
    version = promote("tests-train", name, run_id=trained_run.run_id, force=True).version  # not a gate test
    return {
        "alias": f"models:/{name}@champion",
        "stage": f"models:/{name}/Production",
        "version": f"models:/{name}/{version}",
        "logged_model": trained_run.model_uri,  # models:/m-<id>
    }


@pytest.fixture(scope="module")
def logged_performance(trained_run) -> dict:
    return mlflow.artifacts.load_dict(f"runs:/{trained_run.run_id}/performance.json")


@pytest.mark.parametrize("kind", URI_KINDS)
def test_args_gives_all_params_as_typed_json(cli, registered, default_args, trained_run, kind):
    result = cli("args", "--model-uri", registered[kind])
    assert result.exit_code == 0, result.output
    args = json.loads(result.stdout)
    assert args == default_args.to_params()
    assert args.keys() == mlflow.get_run(trained_run.run_id).data.params.keys()
    for name, value in default_args.to_params().items():
        assert type(args[name]) is type(value), f"{name}: {args[name]!r} is not a {type(value).__name__}"
    assert type(args["lower"]) is bool and type(args["seed"]) is int and type(args["alpha"]) is float


@pytest.mark.parametrize("kind", URI_KINDS)
def test_args_with_a_name_gives_that_value(cli, registered, default_args, kind):
    for name in ("alpha", "min_df", "lower", "analyzer"):
        result = cli("args", name, "--model-uri", registered[kind])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == getattr(default_args, name)


def test_an_unknown_arg_exits_2_with_a_clear_message(cli, registered):
    result = cli("args", "no_such_arg", "--model-uri", registered["alias"])
    assert result.exit_code == 2
    assert result.exception is None
    assert "unknown argument 'no_such_arg'" in result.stderr
    assert "alpha" in result.stderr  # names what there is
    assert result.stdout == ""


@pytest.mark.parametrize("kind", URI_KINDS)
def test_performance_gives_performance_json(cli, registered, logged_performance, kind):
    result = cli("performance", "--model-uri", registered[kind])
    assert result.exit_code == 0, result.output
    performance = json.loads(result.stdout)
    assert set(performance) == {"overall", "class", "slices"}
    assert performance == logged_performance
    assert {"precision", "recall", "f1", "num_samples"} <= set(performance["overall"])


@pytest.mark.parametrize("part", ["overall", "class", "slices"])
def test_performance_filter_gives_that_part(cli, registered, logged_performance, part):
    result = cli("performance", "--filter", part, "--model-uri", registered["version"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == logged_performance[part]


def test_performance_unknown_filter_exits_2(cli, registered):
    result = cli("performance", "--filter", "everything", "--model-uri", registered["alias"])
    assert result.exit_code == 2
    assert result.exception is None
    assert "unknown filter 'everything'" in result.stderr


@pytest.mark.parametrize("command", ["args", "performance"])
@pytest.mark.parametrize(
    "uri",
    [
        "models:/does-not-exist@champion",
        "models:/does-not-exist/Production",
        "models:/does-not-exist/7",
        "models:/m-00000000000000000000000000000000",
        "not-a-uri",
    ],
)
def test_an_unresolvable_model_uri_fails_clearly(cli, tracking_uri, command, uri):
    result = cli(command, "--model-uri", uri)
    assert result.exit_code == 1, result.output
    assert result.exception is None, f"traceback instead of a message: {result.exception!r}"
    assert "Traceback" not in result.output
    assert f"cannot resolve model URI '{uri}'" in result.stderr
    assert result.stdout == ""
