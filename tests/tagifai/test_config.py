"""tagifai.config: database URIs get an installed driver in one place (database_uri), used by every consumer."""

from __future__ import annotations

import os

import pytest

from tagifai import config


@pytest.mark.parametrize(("uri", "expected"), [
    ("postgresql://postgres@127.0.0.1:5432/test", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
    ("postgres://u:p%40ss@db.example:6543/mlflow?sslmode=require&connect_timeout=5",
     "postgresql+psycopg2://u:p%40ss@db.example:6543/mlflow?sslmode=require&connect_timeout=5"),
    ("POSTGRESQL://u@h/db", "postgresql+psycopg2://u@h/db"),
    ("postgresql:///db?host=/var/run/postgresql", "postgresql+psycopg2:///db?host=/var/run/postgresql"),
])
def test_a_postgres_uri_without_a_driver_gets_psycopg2_and_keeps_the_rest(uri, expected):
    assert config.database_uri(uri) == expected


@pytest.mark.parametrize("uri", [
    "postgresql+psycopg2://u:secret@h:5432/db?sslmode=disable",
    "postgresql+psycopg://u@h/db",  # psycopg 3 asked for: the user's choice
    "postgresql+pg8000://u@h/db",
    "sqlite:///x", "sqlite:////abs/mlflow.db", "sqlite://",
    "mysql+pymysql://u:p@h/db", "http://127.0.0.1:5000", "https://mlflow.example.com", "databricks",
    "file:///tmp/mlruns", "/tmp/mlruns", "",
])
def test_every_other_uri_is_unchanged(uri):
    assert config.database_uri(uri) == uri


def test_the_tracking_uri_in_force_goes_through_it(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://alice:pw@127.0.0.1:5432/mlflow")
    assert config.tracking_uri() == "postgresql+psycopg2://alice:pw@127.0.0.1:5432/mlflow"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert config.tracking_uri() == "http://127.0.0.1:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert config.tracking_uri() == config.DEFAULT_TRACKING_URI


def test_apply_database_drivers_rewrites_the_environment_children_inherit():
    env = {"MLFLOW_TRACKING_URI": "postgres://u@h/db", "MLFLOW_REGISTRY_URI": "sqlite:///r.db", "OTHER": "postgres://x"}
    config.apply_database_drivers(env)
    assert env == {"MLFLOW_TRACKING_URI": "postgresql+psycopg2://u@h/db", "MLFLOW_REGISTRY_URI": "sqlite:///r.db",
                   "OTHER": "postgres://x"}
    empty: dict[str, str] = {}
    config.apply_database_drivers(empty)
    assert empty == {}


def test_the_cli_applies_it_before_any_command(monkeypatch):
    from typer.testing import CliRunner

    from app.cli import app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://postgres@127.0.0.1:1/nothing")
    result = CliRunner().invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    assert os.environ["MLFLOW_TRACKING_URI"] == "postgresql+psycopg2://postgres@127.0.0.1:1/nothing"
