"""Loading and validating the labeled projects CSV."""

from __future__ import annotations

import hashlib
import logging

import pandas as pd
import pytest

from tagifai import config
from tagifai.data import file_digest, load_projects
from tagifai.errors import DataValidationError

HEADER = "id,created_on,title,description,tag\n"
DATE = "2020-02-20 06:43:18"


def write_csv(tmp_path, body: str, header: str = HEADER, name: str = "projects.csv"):
    path = tmp_path / name
    path.write_text(header + body)
    return path


def good_row(i: int, tag: str = "mlops", title: str | None = None) -> str:
    return f"{i},{DATE},{title if title is not None else f'Title {i}'},Description {i},{tag}\n"


# --- the shipped data ---------------------------------------------------------------------------


def test_shipped_data_loads_every_row():
    df, report = load_projects(config.DATA_PATH)
    assert len(df) == 764
    assert report.rows_read == 764
    assert report.dropped == {}
    assert report.rows_kept == 764
    assert df["id"].is_unique


def test_text_is_title_space_description():
    df, _ = load_projects(config.DATA_PATH)
    raw = pd.read_csv(config.DATA_PATH)
    assert (df["text"] == raw["title"] + " " + raw["description"].fillna("")).all()
    assert df["text"].iloc[0].startswith("Comparison between YOLO and RCNN on real world videos Bringing theory")


def test_columns_are_typed():
    df, _ = load_projects(config.DATA_PATH)
    assert pd.api.types.is_integer_dtype(df["id"])
    assert pd.api.types.is_datetime64_any_dtype(df["created_on"])
    assert df["created_on"].iloc[0] == pd.Timestamp("2020-02-20 06:43:18")


def test_file_digest_is_sha256_of_the_bytes():
    assert file_digest(config.DATA_PATH) == hashlib.sha256(config.DATA_PATH.read_bytes()).hexdigest()


# --- rows without a tag are dropped, and said so -----------------------------------------------


def test_rows_without_tag_are_dropped_and_counted(tmp_path, caplog):
    body = good_row(1) + f"2,{DATE},No tag,desc,\n" + good_row(3) + f"4,{DATE},Blank tag,desc,   \n"
    path = write_csv(tmp_path, body)
    with caplog.at_level(logging.WARNING, logger="tagifai.data"):
        df, report = load_projects(path)
    assert df["id"].tolist() == [1, 3]
    assert report.rows_read == 4
    assert report.dropped == {"missing tag": 2}
    assert report.rows_kept == 2
    assert any("dropped 2 row(s): missing tag" in r.getMessage() for r in caplog.records)


def test_missing_description_gives_text_of_title(tmp_path):
    path = write_csv(tmp_path, f"1,{DATE},Only a title,,mlops\n")
    df, _ = load_projects(path)
    assert df["description"].tolist() == [""]
    assert df["text"].tolist() == ["Only a title "]


# --- bad files: the error names the file, the rule and the first offending rows -----------------


def test_no_such_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataValidationError, match="no such file") as exc:
        load_projects(path)
    assert str(path) in str(exc.value)


def test_empty_file(tmp_path):
    path = write_csv(tmp_path, "", header="")
    with pytest.raises(DataValidationError, match="not a readable CSV") as exc:
        load_projects(path)
    assert str(path) in str(exc.value)


def test_header_only(tmp_path):
    path = write_csv(tmp_path, "")
    with pytest.raises(DataValidationError, match="no data rows") as exc:
        load_projects(path)
    assert str(path) in str(exc.value)


def test_missing_required_column(tmp_path):
    path = write_csv(tmp_path, f"1,{DATE},A title,mlops\n", header="id,created_on,title,tag\n")
    with pytest.raises(DataValidationError) as exc:
        load_projects(path)
    message = str(exc.value)
    assert str(path) in message
    assert "required column(s) missing: description" in message


def test_duplicate_id(tmp_path):
    path = write_csv(tmp_path, good_row(1) + good_row(2) + good_row(3) + good_row(2))
    with pytest.raises(DataValidationError) as exc:
        load_projects(path)
    message = str(exc.value)
    assert str(path) in message
    assert "id must be unique" in message
    assert "2 offending row(s)" in message
    # Header is line 1: the first id=2 is on line 3, the second on line 5.
    assert "line 3 (id=2), line 5 (id=2)" in message
    assert "id=1" not in message and "id=3" not in message


def test_empty_title(tmp_path):
    path = write_csv(tmp_path, good_row(1) + good_row(2, title="") + good_row(3, title="   "))
    with pytest.raises(DataValidationError) as exc:
        load_projects(path)
    message = str(exc.value)
    assert str(path) in message
    assert "title must not be empty" in message
    assert "2 offending row(s)" in message
    assert "line 3 (id=2), line 4 (id=3)" in message


def test_bad_date_format(tmp_path):
    path = write_csv(tmp_path, good_row(1) + "2,20/02/2020,Title,desc,mlops\n" + f"3,{DATE[:10]},Title,desc,mlops\n")
    with pytest.raises(DataValidationError) as exc:
        load_projects(path)
    message = str(exc.value)
    assert str(path) in message
    assert f"created_on must match {config.DATE_FORMAT}" in message
    assert "line 3 (id=2), line 4 (id=3)" in message


@pytest.mark.parametrize("bad_id", ["abc", "2.5", ""])
def test_non_integer_id(tmp_path, bad_id):
    path = write_csv(tmp_path, good_row(1) + f"{bad_id},{DATE},Title,desc,mlops\n")
    with pytest.raises(DataValidationError) as exc:
        load_projects(path)
    message = str(exc.value)
    assert str(path) in message
    assert "id must be an integer" in message
    assert "1 offending row(s)" in message
    assert "line 3 (id=" in message


def test_error_shows_at_most_five_rows(tmp_path):
    path = write_csv(tmp_path, "".join(f"{i},bad date,Title,desc,mlops\n" for i in range(1, 9)))
    with pytest.raises(DataValidationError) as exc:
        load_projects(path)
    message = str(exc.value)
    assert "8 offending row(s)" in message
    assert "line 6 (id=5)" in message
    assert "id=6" not in message


def test_line_numbers_count_multiline_fields(tmp_path):
    """The shipped data has descriptions spanning several lines: line numbers must be the file's."""
    body = f'1,{DATE},Title,"first line\nsecond line\nthird line",mlops\n' + good_row(2) + good_row(2)
    path = write_csv(tmp_path, body)
    with pytest.raises(DataValidationError) as exc:
        load_projects(path)
    assert "line 5 (id=2), line 6 (id=2)" in str(exc.value)
