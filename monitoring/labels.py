"""Labels that arrived later: a CSV with `tag` and either `request_id` or `text`, joined to the window's logged
predictions, for the measured accuracy, weighted F1 and per-class F1, and how far the estimate was from it.

Only the joined rows are fetched (WHERE request_id IN / text_hash IN, in chunks), never the whole log. A text is
joined through monitoring.schema.text_hash of the text exactly as sent; a request id labels every row of its
request (one-row requests are the usual case). With both columns, `request_id` is used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score
from sqlalchemy import select
from sqlalchemy.engine import Engine

from monitoring import schema
from monitoring.errors import LabelsError
from monitoring.window import WindowKey, log

KEYS = ("request_id", "text")
JOIN_CHUNK = 1000  # keys per IN (...): well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class Measured:
    key: str  # the column joined on
    label_rows: int
    rows: int  # logged rows joined
    accuracy: float
    f1: float
    per_class: dict[str, float]
    estimated_accuracy: float  # the estimate on the same rows: mean confidence
    estimate_minus_measured: float

    def to_dict(self) -> dict:
        return asdict(self)


def read_labels(path: Path) -> tuple[str, pd.DataFrame]:
    """(key column, frame of `key` -> `tag`, one row per key) from the CSV; LabelsError naming the rule broken."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LabelsError(f"--labels {path} cannot be read as CSV: {str(exc).splitlines()[0]}") from None
    if "tag" not in frame.columns:
        raise LabelsError(f"--labels {path} has no `tag` column (columns: {', '.join(frame.columns) or 'none'})")
    key = next((k for k in KEYS if k in frame.columns), None)
    if key is None:
        raise LabelsError(f"--labels {path} needs a `request_id` or a `text` column to join on "
                          f"(columns: {', '.join(frame.columns)})")
    frame = frame[[key, "tag"]]
    empty = frame[(frame[key] == "") | (frame["tag"].str.strip() == "")]
    if len(empty):
        raise LabelsError(f"--labels {path}: row {int(empty.index[0]) + 2} has an empty `{key}` or `tag`")
    if key == "text":
        frame = frame.assign(text=frame["text"].map(schema.text_hash))
    return key, frame.drop_duplicates(key, keep="first").set_index(key)


def fetch_joined(eng: Engine, window: WindowKey, key: str, values: list[str]) -> pd.DataFrame:
    """The window's logged rows whose request id (or text hash) is in `values`: key, predicted_tag, confidence."""
    column = log.request_id if key == "request_id" else log.text_hash
    parts = []
    with eng.connect() as conn:
        for start in range(0, len(values), JOIN_CHUNK):
            stmt = select(column.label("key"), log.predicted_tag, log.confidence).where(
                window.condition(), column.in_(values[start:start + JOIN_CHUNK]))
            parts.append(pd.DataFrame(conn.execute(stmt).all(), columns=["key", "predicted_tag", "confidence"]))
    return pd.concat(parts, ignore_index=True)


def measure(eng: Engine, window: WindowKey, path: Path, read: tuple[str, pd.DataFrame] | None = None) -> Measured:
    """`read`: read_labels(path) done before (so a bad file fails before the window is read)."""
    key, labels = read or read_labels(path)
    joined = fetch_joined(eng, window, key, labels.index.tolist())
    if joined.empty:
        raise LabelsError(f"--labels {path}: none of its {len(labels)} rows joins a logged prediction of "
                          f"{window.describe()} by `{key}`" + (" (texts must be exactly as sent)" if key == "text"
                                                               else ""))
    truth = labels.loc[joined["key"], "tag"].to_numpy()
    predicted = joined["predicted_tag"].to_numpy()
    classes = sorted(set(truth) | set(predicted))
    accuracy = float(accuracy_score(truth, predicted))
    estimate = float(joined["confidence"].mean())
    per_class = f1_score(truth, predicted, labels=classes, average=None, zero_division=0)
    return Measured(key, len(labels), len(joined), accuracy,
                    float(f1_score(truth, predicted, average="weighted", zero_division=0)),
                    {c: float(v) for c, v in zip(classes, per_class)}, estimate, estimate - accuracy)
