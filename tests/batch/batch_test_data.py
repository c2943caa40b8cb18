"""Input data for the batch tests, resampled from data/labeled_projects.csv (imported by conftest and tests)."""

from __future__ import annotations

import pandas as pd

from tagifai import config

ROWS = 1000


def resampled(n: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """n rows drawn with replacement from the labeled data, with fresh unique ids 1..n."""
    df = pd.read_csv(config.DATA_PATH)
    sample = df.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    return sample.assign(id=range(1, n + 1))[["id", "title", "description"]]


def dirty_frame(n: int = ROWS) -> tuple[pd.DataFrame, dict[str, str], int]:
    """(frame, expected rejects with an id: id -> reason, number of rows without id)."""
    df = resampled(n).astype({"id": "object"})
    df.loc[0, "id"] = None                                              # missing id
    df.loc[1, "id"] = "   "                                             # blank id: missing too
    df.loc[2, ["title", "description"]] = [None, None]                  # no text at all
    df.loc[3, ["title", "description"]] = ["  \u00a0\u2003", "\t\n"]    # Unicode blanks: the model would refuse
    df.loc[5, "id"] = 7                                                 # 7 twice: both copies rejected
    df.loc[8, ["id", "title", "description"]] = [8, "", None]           # ...a blank text as well: still one reason
    df.loc[9, "id"] = 8
    df.loc[10, "id"] = " 11 "                                           # padded id: kept as '11'
    expected = {"3": "missing text", "4": "missing text", "7": "duplicate id", "8": "duplicate id"}
    return df, expected, 2
