"""Load the labeled projects and validate them; never drop a row without saying so."""

from __future__ import annotations

import csv
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tagifai.config import DATE_FORMAT, REQUIRED_COLUMNS
from tagifai.errors import DataValidationError

logger = logging.getLogger(__name__)
MAX_SHOWN_ROWS = 5


@dataclass
class LoadReport:
    """What loading kept and what it dropped, by reason."""

    rows_read: int
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def rows_kept(self) -> int:
        return self.rows_read - sum(self.dropped.values())


def file_digest(path: str | Path) -> str:
    """SHA-256 of the file's bytes: ties a run to the exact data it saw."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _record_lines(path: Path) -> list[int]:
    """Line in the file on which each data record starts (quoted fields may span several lines)."""
    starts, previous_end = [], 0
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        for record in reader:
            if record:  # pandas skips blank lines too
                starts.append(previous_end + 1)
            previous_end = reader.line_num
    return starts[1:]  # the first record is the header


def _fail(path: Path, rule: str, rows: pd.DataFrame) -> None:
    # Rows are numbered as in the file, so an editor's "go to line" finds them.
    lines = _record_lines(path)
    shown = ", ".join(
        f"line {lines[i] if i < len(lines) else i + 2} (id={r})" for i, r in rows["id"].head(MAX_SHOWN_ROWS).items()
    )
    raise DataValidationError(f"{path}: {rule}: {len(rows)} offending row(s), first: {shown}")


def validate(df: pd.DataFrame, path: Path) -> None:
    """Raise DataValidationError naming the file, the rule and the first offending rows."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataValidationError(f"{path}: required column(s) missing: {', '.join(missing)}")
    if df.empty:
        raise DataValidationError(f"{path}: the file has no data rows")
    ids = pd.to_numeric(df["id"], errors="coerce")
    bad_id = df[ids.isna() | (ids % 1 != 0)]  # 2.5 (or inf) is no id: astype(int) would make 2.5 into 2
    if len(bad_id):
        _fail(path, "id must be an integer", bad_id)
    dup = df[df["id"].duplicated(keep=False)]
    if len(dup):
        _fail(path, "id must be unique", dup)
    empty_title = df[df["title"].fillna("").astype(str).str.strip() == ""]
    if len(empty_title):
        _fail(path, "title must not be empty", empty_title)
    dates = pd.to_datetime(df["created_on"], format=DATE_FORMAT, errors="coerce")
    bad_date = df[dates.isna()]
    if len(bad_date):
        _fail(path, f"created_on must match {DATE_FORMAT}", bad_date)


def load_projects(path: str | Path) -> tuple[pd.DataFrame, LoadReport]:
    """Read and validate the CSV; add `text` = title + " " + description."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"{path}: no such file")
    try:
        df = pd.read_csv(path, dtype={"title": str, "description": str, "tag": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path}: not a readable CSV file: {exc}") from exc
    validate(df, path)
    report = LoadReport(rows_read=len(df))
    no_tag = df["tag"].fillna("").str.strip() == ""
    if no_tag.any():
        report.dropped["missing tag"] = int(no_tag.sum())
        df = df[~no_tag]
    for reason, count in report.dropped.items():
        logger.warning("%s: dropped %d row(s): %s", path, count, reason)
    df = df.assign(
        id=df["id"].astype(int),
        created_on=pd.to_datetime(df["created_on"], format=DATE_FORMAT),
        description=df["description"].fillna(""),
    ).reset_index(drop=True)
    df["text"] = df["title"] + " " + df["description"]
    return df, report
