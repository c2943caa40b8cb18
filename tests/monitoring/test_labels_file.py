"""The --labels file's rules, checked before any row is joined."""

from __future__ import annotations

import pytest

from monitoring.errors import LabelsError
from monitoring.labels import read_labels
from monitoring.schema import text_hash


def write(tmp_path, text: str, name: str = "labels.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_request_ids_are_the_key_when_given(tmp_path):
    key, frame = read_labels(write(tmp_path, "request_id,text,tag\nr1,a,mlops\nr2,b,other\n"))
    assert key == "request_id" and frame.loc["r1", "tag"] == "mlops" and len(frame) == 2


def test_texts_are_joined_by_the_hash_of_the_text_as_sent(tmp_path):
    key, frame = read_labels(write(tmp_path, 'text,tag\n"  Spaces, kept ",mlops\n'))
    assert key == "text" and frame.index.tolist() == [text_hash("  Spaces, kept ")]


@pytest.mark.parametrize("content, rule", [
    ("request_id,label\nr1,mlops\n", "has no `tag` column"),
    ("id,tag\nr1,mlops\n", "needs a `request_id` or a `text` column"),
    ("request_id,tag\nr1,mlops\nr2,\n", "row 3 has an empty `request_id` or `tag`"),
    ("", "cannot be read as CSV"),
])
def test_a_bad_file_names_the_rule(tmp_path, content, rule):
    with pytest.raises(LabelsError, match=rule) as caught:
        read_labels(write(tmp_path, content))
    assert caught.value.exit_code == 2


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(LabelsError, match="absent.csv cannot be read"):
        read_labels(tmp_path / "absent.csv")
