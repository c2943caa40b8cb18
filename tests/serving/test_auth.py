"""Bearer tokens in-process: the token file's rules, and the 401 a request without a known token gets."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from serving.auth import read_tokens, token_name
from serving.errors import InvalidSettingError

from serving_fakes import fake_app

TOKENS = "# comment\nbackend:aaaaaaaaaaaaaaaa-backend\n\nbbbbbbbbbbbbbbbb-plain\n"


def test_named_and_unnamed_tokens(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(TOKENS)
    tokens = read_tokens(path)
    assert token_name(tokens, b"aaaaaaaaaaaaaaaa-backend") == "backend"
    assert token_name(tokens, b"bbbbbbbbbbbbbbbb-plain") == "token-4"
    assert token_name(tokens, b"aaaaaaaaaaaaaaaa") is None and token_name(tokens, b"") is None


@pytest.mark.parametrize(("text", "rule"), [("", "holds no token"), ("short\n", "at least 16 characters"),
                                            ("name:short\n", "line 1")])
def test_a_bad_token_file_is_refused_naming_the_rule(tmp_path, text, rule):
    path = tmp_path / "tokens"
    path.write_text(text)
    with pytest.raises(InvalidSettingError, match=rule):
        read_tokens(path)


def test_a_missing_token_file_is_named(tmp_path):
    with pytest.raises(InvalidSettingError, match="cannot read"):
        read_tokens(tmp_path / "absent")


def test_routes_need_a_token_and_probes_do_not(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(TOKENS)
    client = TestClient(fake_app(tokens=read_tokens(path)))
    refused = client.post("/invocations", json={"inputs": ["a text"]})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["error_code"] == "UNAUTHENTICATED" and refused.headers["x-request-id"]
    allowed = client.post("/invocations", json={"inputs": ["a text"]},
                          headers={"Authorization": "Bearer aaaaaaaaaaaaaaaa-backend"})
    assert allowed.status_code == 200
    assert client.get("/ping").status_code == 200 and client.get("/metrics").status_code == 200
