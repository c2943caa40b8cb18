"""A request's body and Content-Type -> (model input, params), in MLflow's scoring protocol.

JSON takes exactly one of `dataframe_split`, `dataframe_records`, `instances`, `inputs` (+ optional `params`);
also `text/csv` and Parquet. `inputs`/`instances` are passed on as sent (JSON values, no schema conversion that
would turn `null` into "None"); a plain table of `text` strings becomes the list of texts without a DataFrame;
any other table is built by MLflow's own parsers, called as library functions.
"""

from __future__ import annotations

import json
import sys
from io import BytesIO, StringIO
from typing import Any, NamedTuple

from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server
from mlflow.utils.proto_json_utils import dataframe_from_parsed_json

from serving.errors import MalformedRequestError, MissingContentTypeError, UnsupportedMediaTypeError
from tagifai.errors import InputTooLargeError

JSON, CSV = scoring_server.CONTENT_TYPE_JSON, scoring_server.CONTENT_TYPE_CSV
PARQUET = scoring_server.CONTENT_TYPE_PARQUET
FORMATS = scoring_server.SUPPORTED_FORMATS
REQUIRED_INPUT_FORMAT = scoring_server.REQUIRED_INPUT_FORMAT
NOT_UTF8 = "request body is not valid UTF-8"


class Parsed(NamedTuple):
    data: Any  # a list of texts, a JSON value (inputs/instances) or a DataFrame
    params: Any  # as sent: checked by the scorer


def parse_request(body: bytes, content_type: str | None, max_rows: int, max_bytes: int) -> Parsed:
    mime, parameters = media_type(content_type)
    if mime.lower() == PARQUET:
        check_parquet_footer(body, max_rows, max_bytes)
    check_parameters(parameters)
    if mime == JSON:
        return parse_json(body)
    if mime == CSV:
        return Parsed(parse_csv(body), None)
    if mime == PARQUET:
        return Parsed(_mlflow_parse(scoring_server.parse_parquet_input, BytesIO(body)), None)
    raise UnsupportedMediaTypeError(f"This predictor only supports the following content types: Types: "
                                    f"{scoring_server.CONTENT_TYPES}. Got '{content_type}'.")


def media_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    """('application/json', {'charset': 'utf-8'}) from 'application/json; charset=utf-8'."""
    if not (content_type or "").strip():
        raise MissingContentTypeError()
    mime, *pairs = (part.strip() for part in content_type.split(";"))
    return mime, {key: value for key, _, value in (pair.partition("=") for pair in pairs)}


def check_parameters(parameters: dict[str, str]) -> None:
    if parameters.get("charset", "utf-8").lower() != "utf-8":
        raise UnsupportedMediaTypeError("The scoring server only supports UTF-8")
    unknown = [key for key in parameters if key != "charset"]
    if unknown:
        raise UnsupportedMediaTypeError(f"Unrecognized content type parameters: {', '.join(unknown)}.")


def check_parquet_footer(body: bytes, max_rows: int, max_bytes: int) -> None:
    """A few KB of Parquet can expand to millions of rows or a 50 MB string: check its footer before reading."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(BytesIO(body)).metadata
    except Exception:  # not Parquet at all: the parser says so
        return
    if meta.num_rows > max_rows:
        raise InputTooLargeError(f"{meta.num_rows} rows in one request; the limit is {max_rows}")
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if size > max_bytes:
        raise InputTooLargeError(f"the Parquet data is {size} bytes uncompressed; the limit is {max_bytes}")


def parse_csv(body: bytes):
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequestError(NOT_UTF8) from None
    return _mlflow_parse(scoring_server.parse_csv_input, StringIO(text))


def _too_many_digits(digits: str) -> int:
    if len(digits.lstrip("-")) > sys.get_int_max_str_digits():
        raise MalformedRequestError("Invalid input. The request JSON has an integer with too many digits")
    return int(digits)


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_int=_too_many_digits)
    except UnicodeDecodeError:
        raise MalformedRequestError(NOT_UTF8) from None
    except json.JSONDecodeError as exc:
        raise MalformedRequestError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # [[[[...]]]]
        raise MalformedRequestError("Invalid input. The request JSON is nested too deeply") from None


def parse_json(body: bytes) -> Parsed:
    request = load_json(body)
    if not isinstance(request, dict):
        got = "Received a list." if isinstance(request, list) else \
            f"Received unexpected input type '{type(request)}."
        raise MalformedRequestError(f"Invalid input. {REQUIRED_INPUT_FORMAT}. {got}")
    formats = [key for key in request if key in FORMATS]
    if len(formats) != 1:
        raise MalformedRequestError(f"{REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: {formats}.")
    fmt = formats[0]
    return Parsed(parse_format(fmt, request[fmt]), request.get(scoring_server.SERVING_PARAMS_KEY))


def parse_format(fmt: str, value: Any) -> Any:
    if fmt in (scoring_server.INPUTS, scoring_server.INSTANCES):
        return value
    texts = plain_texts(fmt, value)
    if texts is not None:
        return texts
    return _mlflow_parse(dataframe_from_parsed_json, value, pandas_orient=fmt.removeprefix("dataframe_"))


def plain_texts(fmt: str, table: Any) -> list[str] | None:
    """The texts of a table whose only column is `text` and whose every value is a string, without building the
    DataFrame (a sixth of a 1-row request's CPU); None for anything else."""
    if fmt == scoring_server.DF_RECORDS:
        if isinstance(table, list) and table and all(
                type(row) is dict and len(row) == 1 and type(row.get("text")) is str for row in table):
            return [row["text"] for row in table]
    elif fmt == scoring_server.DF_SPLIT and isinstance(table, dict) and table.keys() == {"columns", "data"}:
        rows = table["data"]
        if table["columns"] == ["text"] and isinstance(rows, list) and rows and all(
                type(row) is list and len(row) == 1 and type(row[0]) is str for row in rows):
            return [row[0] for row in rows]
    return None


def _mlflow_parse(parse, *args, **kwargs):
    """One of MLflow's parsers; what it refuses is the client's malformed request (its message kept)."""
    try:
        return parse(*args, **kwargs)
    except MlflowException as exc:
        raise MalformedRequestError(exc.message) from None
