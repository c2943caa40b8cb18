"""Input rules, pure pandas: layout, id and text normalisation, reject reasons, formats and digests (fast)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch import inputs
from batch.errors import BatchInputError
from batch.inputs import DUPLICATE_ID, ID, MISSING_ID, MISSING_TEXT, REASON, TEXT, Layout
from tagifai.errors import InvalidInputError
from tagifai.predict import validate_texts

# --- layout -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns, text_columns", [
    (["id", "text"], ("text",)),
    (["id", "text", "title", "description"], ("text",)),  # an explicit text wins
    (["id", "title", "description", "tag"], ("title", "description")),
    (["id", "title"], ("title",)),
])
def test_layout_picks_the_text_source(columns, text_columns):
    assert inputs.resolve_layout(columns) == Layout(text_columns)


def test_layout_without_id_fails_the_whole_input_naming_the_columns():
    with pytest.raises(BatchInputError, match="no 'id' column.*columns: text, title"):
        inputs.resolve_layout(["text", "title"])


def test_layout_without_any_text_source_fails():
    with pytest.raises(BatchInputError, match="needs a 'text' column, or 'title' and 'description'"):
        inputs.resolve_layout(["id", "description"])


# --- ids and texts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("42", "42"), (" 42\t", "42"), (42, "42"), (42.0, "42"), (2.5, "2.5"), ("abc-1", "abc-1"), (b"7", "7"),
    (None, None), (float("nan"), None), (float("inf"), None), ("", None), ("   ", None),
])
def test_ids_are_normalised_to_strings(raw, expected):
    assert inputs.normalise_id(raw) == expected


@pytest.mark.parametrize("text", [
    None, float("nan"), "", " ", "\t\n", "\u00a0", "\u2003\u3000", "\u00a0\u2003 \t",
    "x", " padded ", "the", "!!!", "0", "\u00a0a",
])
def test_missing_text_is_exactly_what_the_model_refuses(text):
    """Filtering must agree with tagifai.predict, which fails the whole batch on one blank text."""
    try:
        validate_texts([text])
        model_refuses = False
    except InvalidInputError:
        model_refuses = True
    assert (inputs.normalise_text(text) is None) == model_refuses


def test_non_string_text_is_scored_as_its_string():
    assert inputs.normalise_text(123) == "123"


def test_title_and_description_are_joined_like_training():
    pdf = pd.DataFrame({"id": [1, 2, 3, 4], "title": ["A", "B", None, " "], "description": ["x", None, None, "\t"]})
    texts = inputs.build_texts(pdf, Layout(("title", "description")))
    assert texts.tolist() == ["A x", "B ", None, None]


# --- rejects ----------------------------------------------------------------------------------------------


def test_each_bad_row_gets_one_reason_and_every_id_lands_once(dirty_frame):
    df, expected, missing_id_rows = dirty_frame(200)
    valid, rejects = inputs.split(df)
    assert len(valid) + len(rejects) == len(df)
    assert (rejects[REASON] == MISSING_ID).sum() == missing_id_rows
    with_id = rejects[rejects[ID].notna()]
    assert dict(zip(with_id[ID], with_id[REASON])) == expected
    assert set(valid[ID]).isdisjoint(with_id[ID])
    all_ids = {i for i in map(inputs.normalise_id, df["id"]) if i is not None}
    assert set(valid[ID]) | set(with_id[ID]) == all_ids
    assert valid[ID].is_unique and valid[TEXT].notna().all()
    assert "11" in set(valid[ID])  # ' 11 ' was padded, not bad


def test_reason_priority_missing_id_then_duplicate_then_text():
    pdf = pd.DataFrame({"id": [None, "a", "a", "b", None], "text": ["", "", "x", " ", "y"]})
    _, rejects = inputs.split(pdf)
    assert rejects[[ID, REASON]].to_dict("records") == [
        {ID: None, REASON: MISSING_ID}, {ID: "a", REASON: DUPLICATE_ID}, {ID: "a", REASON: DUPLICATE_ID},
        {ID: "b", REASON: MISSING_TEXT}, {ID: None, REASON: MISSING_ID},
    ]


def test_ids_equal_after_normalisation_are_duplicates():
    _, rejects = inputs.split(pd.DataFrame({"id": ["5", " 5", 5.0], "text": ["a", "b", "c"]}))
    assert rejects[REASON].tolist() == [DUPLICATE_ID] * 3


def test_reasons_are_none_for_good_rows():
    reasons = inputs.reject_reasons(pd.Series(["a", "b"]), pd.Series([False, False]), pd.Series([1, 1]))
    assert reasons.isna().all()


row = st.fixed_dictionaries({
    "id": st.one_of(st.none(), st.integers(0, 15), st.sampled_from(["", " ", " 3", "x"]),
                    st.floats(allow_nan=True, allow_infinity=True)),
    "text": st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["\u00a0", " \t", "ok"])),
})


@settings(max_examples=200, deadline=None)
@given(st.lists(row, max_size=30))
def test_every_row_is_scored_or_rejected_and_no_id_is_both(rows):
    pdf = pd.DataFrame(rows, columns=["id", "text"])
    valid, rejects = inputs.split(pdf)
    assert len(valid) + len(rejects) == len(pdf)
    assert valid[ID].is_unique
    assert set(valid[ID]).isdisjoint(set(rejects[ID].dropna()))
    if len(valid):
        validate_texts(valid[TEXT].tolist())  # the model accepts every text that is kept
    assert rejects[REASON].isin([MISSING_ID, DUPLICATE_ID, MISSING_TEXT]).all()


# --- formats, paths, digests -----------------------------------------------------------------------------


def test_format_from_suffix_or_folder_contents(tmp_path):
    assert inputs.input_format("x/projects.CSV") == "csv"
    assert inputs.input_format("s3a://bucket/p.parquet") == "parquet"
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "part-0.parquet").write_bytes(b"")
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".part-0.parquet.crc").write_bytes(b"")
    assert inputs.input_format(str(folder)) == "parquet"
    (folder / "extra.csv").write_text("id\n")
    with pytest.raises(BatchInputError, match="mixes CSV and Parquet"):
        inputs.input_format(str(folder))
    assert inputs.input_format(str(folder), "csv") == "csv"


def test_unknown_format_is_refused():
    with pytest.raises(BatchInputError, match="give --format"):
        inputs.input_format("hdfs://cluster/data/projects")
    with pytest.raises(BatchInputError, match="unknown input format 'json'"):
        inputs.input_format("a.csv", "json")


def test_missing_input_fails_before_anything_runs(tmp_path):
    with pytest.raises(BatchInputError, match="no such file or folder"):
        inputs.check_exists(str(tmp_path / "nope.csv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchInputError, match="no data files"):
        inputs.check_exists(str(tmp_path / "empty"))


def test_digest_follows_the_bytes_not_the_bookkeeping(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text("id,text\n1,x\n")
    first = inputs.input_digest(str(folder))
    (folder / "_SUCCESS").write_text("")
    assert inputs.input_digest(f"file://{folder}") == first
    (folder / "a.csv").write_text("id,text\n1,y\n")
    assert inputs.input_digest(str(folder)) != first
    assert len(first) == 64 and inputs.input_digest("s3a://bucket/in") is None


def test_float_ids_from_a_nullable_int_column_come_back_whole():
    column = pd.Series([1, None, 3])  # pandas (and Arrow) turn it into float64
    assert [inputs.normalise_id(v) for v in column.tolist()] == ["1", None, "3"]

