"""Which model URIs the server follows (an alias, a stage, latest) and which never move."""

from __future__ import annotations

import pytest

from serving.target import Target


@pytest.mark.parametrize(("uri", "moves", "pointer"), [
    ("models:/tagifai@champion", True, "champion"),
    ("models:/tagifai/Production", True, "Production"),
    ("models:/tagifai/latest", True, "latest"),
    ("models:/tagifai/3", False, None),
    ("models:/m-0123456789abcdef", False, None),
    ("runs:/0123456789abcdef/model", False, None),
    ("/srv/models/tagifai", False, None),
])
def test_only_aliases_and_stages_move(uri, moves, pointer):
    target = Target.parse(uri)
    assert target.moves is moves and target.pointer == pointer


def test_a_version_is_downloaded_by_its_number_not_by_the_alias():
    target = Target.parse("models:/tagifai@champion")
    assert target.name == "tagifai" and target.version_uri("7") == "models:/tagifai/7"
    assert Target.parse("models:/tagifai/3").resolve(client=None) == "3"  # a number needs no registry call
