"""Stratified train / validation / test split."""

from __future__ import annotations

import pandas as pd
import pytest

from tagifai.split import split_data

LABELS = ["nlp"] * 300 + ["cv"] * 200 + ["mlops"] * 60 + ["other"] * 40  # 600 rows, 50/33/10/7 %


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame({"id": range(1000, 1000 + len(LABELS)), "label": LABELS})


def proportions(part: pd.DataFrame) -> pd.Series:
    return part["label"].value_counts(normalize=True)


def test_each_part_keeps_the_label_proportions(df):
    splits = split_data(df, "label", val_size=0.15, test_size=0.15, seed=42)
    whole = proportions(df)
    for part in splits:
        diff = (proportions(part).reindex(whole.index, fill_value=0) - whole).abs()
        assert diff.max() < 0.02, diff


def test_shipped_data_split_is_stratified():
    from tagifai import config
    from tagifai.data import load_projects
    from tagifai.preprocess import apply_mapping, label_mapping

    data, _ = load_projects(config.DATA_PATH)
    data["label"] = apply_mapping(data["tag"], label_mapping(data["tag"].tolist(), min_freq=30))
    splits = split_data(data, "label", val_size=0.15, test_size=0.15, seed=42)
    whole = proportions(data)
    for part in splits:
        assert (proportions(part).reindex(whole.index, fill_value=0) - whole).abs().max() < 0.02


def test_sizes(df):
    n = len(df)
    train, val, test = split_data(df, "label", val_size=0.15, test_size=0.25, seed=0)
    assert len(train) + len(val) + len(test) == n
    assert abs(len(test) - 0.25 * n) <= 1
    assert abs(len(val) - 0.15 * n) <= 1  # val_size is a fraction of the whole, not of the remainder
    assert abs(len(train) - 0.60 * n) <= 2


def test_no_row_is_lost_or_shared(df):
    train, val, test = split_data(df, "label", val_size=0.15, test_size=0.15, seed=42)
    ids = [set(part["id"]) for part in (train, val, test)]
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]
    assert ids[0] | ids[1] | ids[2] == set(df["id"])


def test_parts_have_a_fresh_index(df):
    for part in split_data(df, "label", val_size=0.15, test_size=0.15, seed=42):
        assert part.index.tolist() == list(range(len(part)))


def test_same_seed_same_split(df):
    a = split_data(df, "label", val_size=0.15, test_size=0.15, seed=7)
    b = split_data(df, "label", val_size=0.15, test_size=0.15, seed=7)
    for part_a, part_b in zip(a, b):
        pd.testing.assert_frame_equal(part_a, part_b)


def test_different_seed_different_split(df):
    a = split_data(df, "label", val_size=0.15, test_size=0.15, seed=1)
    b = split_data(df, "label", val_size=0.15, test_size=0.15, seed=2)
    assert set(a.test["id"]) != set(b.test["id"])
    assert set(a.val["id"]) != set(b.val["id"])


@pytest.mark.parametrize(
    "val_size, test_size",
    [(0, 0.15), (0.15, 0), (1, 0.15), (0.15, 1), (-0.1, 0.15), (0.5, 0.5), (0.6, 0.5)],
)
def test_invalid_sizes_raise(df, val_size, test_size):
    with pytest.raises(ValueError, match="must be in \\(0, 1\\) with sum < 1"):
        split_data(df, "label", val_size=val_size, test_size=test_size, seed=42)
