"""Stratified train / validation / test split with a fixed seed."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
from sklearn.model_selection import train_test_split


class Splits(NamedTuple):
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def split_data(df: pd.DataFrame, label_col: str, val_size: float, test_size: float, seed: int) -> Splits:
    """Split so that each part keeps the label proportions; same seed, same split."""
    if not 0 < val_size < 1 or not 0 < test_size < 1 or val_size + test_size >= 1:
        raise ValueError(f"val_size ({val_size}) and test_size ({test_size}) must be in (0, 1) with sum < 1")
    rest, test = train_test_split(df, test_size=test_size, stratify=df[label_col], random_state=seed)
    # val_size is a fraction of the whole data set, so rescale it to the remainder.
    rel_val = val_size / (1 - test_size)
    train, val = train_test_split(rest, test_size=rel_val, stratify=rest[label_col], random_state=seed)
    return Splits(train.reset_index(drop=True), val.reset_index(drop=True), test.reset_index(drop=True))
