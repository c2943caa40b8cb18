"""What a batch input looks like, and which rows cannot be scored.

The row rules are plain pandas on purpose: Spark runs these very functions on each Arrow batch
(`mapInPandas` / `pandas_udf`), and tests and the pandas baseline call them directly, so there is one
definition of "missing text". It must be Python's: the model rejects a whole batch when one text is
blank by `str.strip()` (which also strips Unicode spaces that Spark's `trim` keeps).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from batch.errors import BatchInputError

ID, TEXT, TITLE, DESCRIPTION = "id", "text", "title", "description"
SOURCE, REASON = "source_file", "reason"

MISSING_ID = "missing id"
DUPLICATE_ID = "duplicate id"
MISSING_TEXT = "missing text"
# One reason per row, the first that applies. A duplicated id rejects every row that carries it, so an
# id is never both scored and rejected.
REASONS = (MISSING_ID, DUPLICATE_ID, MISSING_TEXT)

CSV, PARQUET = "csv", "parquet"
SUFFIXES = {".csv": CSV, ".parquet": PARQUET, ".pq": PARQUET}


@dataclass(frozen=True)
class Layout:
    """Where a row's text comes from: `text`, or `title` (+ `description`) joined like training does."""

    text_columns: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (ID, *self.text_columns)


def resolve_layout(columns: Iterable[str]) -> Layout:
    """Whole-input rule: without an id column or a text source no row can be scored, so fail the job."""
    present = list(columns)
    if ID not in present:
        raise BatchInputError(f"the input has no '{ID}' column (columns: {', '.join(present) or 'none'})")
    if TEXT in present:
        return Layout((TEXT,))
    if TITLE in present:
        return Layout((TITLE, DESCRIPTION) if DESCRIPTION in present else (TITLE,))
    raise BatchInputError(
        f"the input needs a '{TEXT}' column, or '{TITLE}' and '{DESCRIPTION}' (columns: {', '.join(present)})"
    )


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def normalise_id(value) -> str | None:
    """Ids are opaque strings: '  7 ' -> '7'; 7.0 (an int column that went through float) -> '7'."""
    if _missing(value):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, float):
        if math.isinf(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    return text or None


def normalise_text(value) -> str | None:
    """The text to score, or None when the model would refuse it (null, empty, whitespace only)."""
    if _missing(value):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def build_texts(pdf: pd.DataFrame, layout: Layout) -> pd.Series:
    if layout.text_columns == (TEXT,):
        raw = pdf[TEXT]
    else:
        title = pdf[TITLE].map(lambda v: "" if _missing(v) else str(v))
        description = pdf[DESCRIPTION] if DESCRIPTION in pdf.columns else pd.Series("", index=pdf.index)
        raw = title + " " + description.map(lambda v: "" if _missing(v) else str(v))
    return raw.map(normalise_text).astype(object)


def prepare(pdf: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """id, text (None if unscorable) and source (file) of each row; the row order is kept."""
    source = pdf[SOURCE] if SOURCE in pdf.columns else pd.Series(None, index=pdf.index, dtype=object)
    return pd.DataFrame(
        {ID: pdf[ID].map(normalise_id).astype(object), TEXT: build_texts(pdf, layout), SOURCE: source.astype(object)},
        index=pdf.index,
    )


def prepare_batches(batches: Iterator[pd.DataFrame], layout: Layout) -> Iterator[pd.DataFrame]:
    """`prepare` for Spark's mapInPandas."""
    for pdf in batches:
        yield prepare(pdf, layout)


def reject_reasons(ids: pd.Series, text_missing: pd.Series, id_counts: pd.Series) -> pd.Series:
    """The reason each row is rejected, or None if it can be scored. `id_counts`: rows sharing the id."""
    reason = pd.Series(None, index=ids.index, dtype=object)
    # Assigned from the weakest to the strongest reason: the first reason in REASONS wins.
    reason[text_missing.astype(bool).to_numpy()] = MISSING_TEXT
    reason[(id_counts.fillna(0) > 1).to_numpy()] = DUPLICATE_ID
    reason[ids.isna().to_numpy()] = MISSING_ID
    return reason


def split(pdf: pd.DataFrame, layout: Layout | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """In-process form of the job's first step: (rows to score [id, text, source], rejects [+ reason])."""
    prepared = prepare(pdf, layout or resolve_layout(pdf.columns))
    counts = prepared[ID].map(prepared[ID].value_counts(dropna=True))
    reasons = reject_reasons(prepared[ID], prepared[TEXT].isna(), counts)
    rejected = reasons.notna()
    return (prepared[~rejected].reset_index(drop=True),
            prepared[rejected].assign(**{REASON: reasons[rejected]}).reset_index(drop=True))


# --- paths -------------------------------------------------------------------------------------------


def is_local(path: str) -> bool:
    scheme = urlparse(str(path)).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and str(path)[1:2] == ":")  # C:\... on Windows


def local_path(path: str) -> Path:
    parsed = urlparse(str(path))
    return Path(parsed.path if parsed.scheme == "file" else str(path))


def data_files(path: Path) -> list[Path]:
    """The data files of a file or a folder (Spark's _SUCCESS, .crc and hidden files are not data)."""
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)
    )


def input_format(path: str, fmt: str | None = None) -> str:
    """csv or parquet: given, or from the suffix of the path or of the files in the folder."""
    if fmt:
        if fmt not in (CSV, PARQUET):
            raise BatchInputError(f"unknown input format '{fmt}': use {CSV} or {PARQUET}")
        return fmt
    suffix = Path(urlparse(str(path)).path).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if is_local(path) and local_path(path).is_dir():
        found = {SUFFIXES.get(p.suffix.lower()) for p in data_files(local_path(path))} - {None}
        if len(found) == 1:
            return found.pop()
        if len(found) > 1:
            raise BatchInputError(f"{path}: the folder mixes CSV and Parquet files; give --format")
    raise BatchInputError(f"{path}: cannot tell CSV from Parquet (no .csv/.parquet files); give --format")


def check_exists(path: str) -> None:
    if is_local(path):
        local = local_path(path)
        if not local.exists():
            raise BatchInputError(f"{path}: no such file or folder")
        if not data_files(local):
            raise BatchInputError(f"{path}: the folder has no data files")


def input_digest(path: str) -> str | None:
    """SHA-256 of a file's bytes (as `sha256sum`); of a folder, over each data file's relative name and bytes
    in name order. None for remote paths (not read by this process)."""
    if not is_local(path):
        return None
    root = local_path(path)
    digest = hashlib.sha256()
    for file in data_files(root):
        if root.is_dir():
            digest.update(str(file.relative_to(root)).encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
