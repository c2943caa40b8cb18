"""Server settings and the URI policy, without a server: flags beat env vars beat defaults; bad values are named."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from serving import launch
from serving.launch import ServeError, check_uri_policy
from serving.settings import ServeSettings
from app.cli import app

LIMIT_FLAGS = {  # flag -> (settings field, env variable)
    "--workers": ("workers", "TAGIFAI_SERVE_WORKERS"),
    "--max-body-bytes": ("max_body_bytes", "TAGIFAI_SERVE_MAX_BODY_BYTES"),
    "--max-rows": ("max_rows", "TAGIFAI_SERVE_MAX_ROWS"),
    "--max-text-chars": ("max_text_chars", "TAGIFAI_SERVE_MAX_TEXT_CHARS"),
    "--timeout": ("timeout_seconds", "TAGIFAI_SERVE_TIMEOUT_SECONDS"),
    "--graceful-shutdown": ("graceful_shutdown_seconds", "TAGIFAI_SERVE_GRACEFUL_SHUTDOWN_SECONDS"),
    "--port": ("port", "TAGIFAI_SERVE_PORT"),
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("TAGIFAI_SERVE_"):
            monkeypatch.delenv(name)


def test_defaults_keep_the_server_local_and_bounded():
    settings = ServeSettings()
    assert settings.host == "127.0.0.1"
    assert settings.allow_local_model is False
    assert (settings.max_body_bytes, settings.max_rows, settings.max_text_chars) == (1_048_576, 5_000, 20_000)
    assert settings.timeout_seconds == 30 and settings.graceful_shutdown_seconds == 30


def served_settings(monkeypatch, args: list[str]) -> ServeSettings:
    """What `tagifai serve ARGS` would run with (the server itself replaced by a recorder)."""
    seen = []
    monkeypatch.setattr(launch, "serve", seen.append)
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 0, result.output
    return seen[0]


@pytest.mark.parametrize("flag", list(LIMIT_FLAGS))
def test_every_limit_is_set_by_flag_or_env_and_the_flag_wins(monkeypatch, flag):
    field, variable = LIMIT_FLAGS[flag]
    monkeypatch.setenv(variable, "7")
    assert getattr(served_settings(monkeypatch, []), field) == 7
    assert getattr(served_settings(monkeypatch, [flag, "9"]), field) == 9


def test_host_and_local_models_by_env(monkeypatch):
    monkeypatch.setenv("TAGIFAI_SERVE_HOST", "0.0.0.0")
    monkeypatch.setenv("TAGIFAI_SERVE_ALLOW_LOCAL_MODEL", "true")
    settings = served_settings(monkeypatch, [])
    assert settings.host == "0.0.0.0" and settings.allow_local_model is True
    assert served_settings(monkeypatch, ["--host", "127.0.0.1"]).host == "127.0.0.1"


@pytest.mark.parametrize("variable,value,phrase", [
    ("TAGIFAI_SERVE_MAX_ROWS", "lots", "TAGIFAI_SERVE_MAX_ROWS must be an integer"),
    ("TAGIFAI_SERVE_ALLOW_LOCAL_MODEL", "ture", "TAGIFAI_SERVE_ALLOW_LOCAL_MODEL must be true or false"),
    ("TAGIFAI_SERVE_MAX_BODY_BYTES", "0", "max_body_bytes must be > 0"),
    ("TAGIFAI_SERVE_GRACEFUL_SHUTDOWN_SECONDS", "-1", "graceful_shutdown_seconds must be >= 0"),
    ("TAGIFAI_SERVE_POLL_INTERVAL", "often", "TAGIFAI_SERVE_POLL_INTERVAL must be a number"),
    ("TAGIFAI_SERVE_POLL_INTERVAL", "-2", "poll_interval must be >= 0 seconds"),
])
def test_a_bad_setting_is_refused_with_its_name(monkeypatch, variable, value, phrase):
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(launch, "serve", lambda settings: None)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code != 0
    assert phrase in result.output


@pytest.mark.parametrize("uri", ["models:/tagifai@champion", "models:/tagifai/3", "runs:/abc123/model",
                                 "models:/m-0123456789abcdef"])
def test_registry_uris_are_served(uri):
    check_uri_policy(uri, allow_local_model=False)


@pytest.mark.parametrize("uri", ["/tmp/model", "file:///tmp/model", "s3://bucket/model", "./model",
                                 "https://example.com/model.tar.gz"])
def test_other_uris_need_allow_local_model_and_the_refusal_says_why(uri):
    with pytest.raises(ServeError) as refused:
        check_uri_policy(uri, allow_local_model=False)
    assert "only models:/ and runs:/" in str(refused.value) and "--allow-local-model" in str(refused.value)
    check_uri_policy(uri, allow_local_model=True)


@pytest.mark.parametrize("uri", ["models://profile@databricks/tagifai/1", "runs://host/abc/model"])
def test_uris_naming_another_registry_are_refused_even_with_the_flag(uri):
    with pytest.raises(ServeError, match="not ones naming another server"):
        check_uri_policy(uri, allow_local_model=True)


def test_poll_interval_by_env_and_flag(monkeypatch):
    assert served_settings(monkeypatch, []).poll_interval == 10
    monkeypatch.setenv("TAGIFAI_SERVE_POLL_INTERVAL", "0")
    assert served_settings(monkeypatch, []).poll_interval == 0  # pinned
    assert served_settings(monkeypatch, ["--poll-interval", "2.5"]).poll_interval == 2.5
