"""Malformed requests against a real `tagifai serve`: each gets a 4xx JSON error that names the problem.

For every case: a 4xx (never a 5xx) with exactly {error_code, message, request_id}, the caller's X-Request-ID
echoed, the model headers present, no stack trace, and nothing of the request body sent back (every body
carries MARKER); then a good request still succeeds. Afterwards: the server's memory is back near its
baseline after the big requests, and its log holds no request body and no credential.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import httpx
import pytest

pytestmark = pytest.mark.slow

MARKER = f"ZQXBODY{uuid.uuid4().hex[:10]}"  # in every request body: must never come back or reach the log
TEXT = f"Transfer learning with transformers {MARKER}"
JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}
PARQUET = {"Content-Type": "application/vnd.apache.parquet"}
ERROR_KEYS = {"error_code", "message", "request_id"}
TRACE_SIGNS = ("Traceback", "stack_trace", 'File "/', "site-packages")
MiB = 1 << 20


def j(value) -> bytes:
    return json.dumps(value).encode()


def with_text(value) -> bytes:
    """A records request whose only row's text is `value` (a marker rides along in another column)."""
    return j({"dataframe_records": [{"text": value, "note": MARKER}]})


def with_params(params) -> bytes:
    return j({"inputs": {"text": [TEXT]}, "params": params})


def parquet(table) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


@cache
def parquet_many_rows() -> bytes:
    """~50 KB of Parquet that expands to 20 million rows (a dictionary-encoded column of one value)."""
    import numpy as np
    import pyarrow as pa

    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(20_000_000, dtype=np.int32)), pa.array([MARKER]))
    return parquet(pa.table({"text": column}))


@cache
def parquet_huge_text() -> bytes:
    """~2 KB of Parquet that expands to one 50 MB text."""
    import pyarrow as pa

    return parquet(pa.table({"text": [MARKER + "x" * 50_000_000]}))


@cache
def parquet_without_text() -> bytes:
    import pyarrow as pa

    return parquet(pa.table({"title": [MARKER]}))


def chunks(total: int):
    """A body sent with Transfer-Encoding: chunked (no Content-Length for the limit to read)."""
    yield b'{"inputs": {"text": ["' + MARKER.encode()
    sent = 0
    while sent < total:
        yield b"a" * 65536
        sent += 65536
    yield b'"]}}'


@dataclass(frozen=True)
class Bad:
    body: bytes | Callable[[], object]
    headers: dict[str, str]
    status: int
    phrases: tuple[str, ...]  # each must appear in the message (case-insensitive): it names the problem
    method: str = "POST"
    path: str = "/invocations"
    big: bool = False  # also part of the memory check
    notes: dict = field(default_factory=dict, compare=False)

    def content(self):
        return self.body() if callable(self.body) else self.body


TYPES = "content type"
FORMATS = "dataframe_records"
NOT_A_STRING = ("row 0", "'text'", "must be a string")

BAD: dict[str, Bad] = {
    # --- content types and charsets -------------------------------------------------------------------------
    "no content type": Bad(with_text(TEXT), {}, 415, ("Content-Type", "missing")),
    "text/plain": Bad(TEXT.encode(), {"Content-Type": "text/plain"}, 415, (TYPES, "text/plain")),
    "application/xml": Bad(f"<text>{MARKER}</text>".encode(), {"Content-Type": "application/xml"}, 415, (TYPES,)),
    "form-urlencoded": Bad(f"text={MARKER}".encode(), {"Content-Type": "application/x-www-form-urlencoded"}, 415,
                           (TYPES,)),
    "multipart": Bad(f"--b\r\n\r\n{MARKER}\r\n--b--".encode(), {"Content-Type": "multipart/form-data; boundary=b"},
                     415, ("boundary",)),
    "wildcard type": Bad(with_text(TEXT), {"Content-Type": "*/*"}, 415, (TYPES,)),
    "charset latin-1": Bad(with_text(TEXT), {"Content-Type": "application/json; charset=latin-1"}, 415, ("UTF-8",)),
    "charset utf-16 with utf-16 body": Bad(json.dumps({"inputs": [TEXT]}).encode("utf-16"),
                                           {"Content-Type": "application/json; charset=utf-16"}, 415, ("UTF-8",)),
    "charset without a value": Bad(with_text(TEXT), {"Content-Type": "application/json; charset"}, 415, ("UTF-8",)),
    "unknown content-type parameter": Bad(with_text(TEXT), {"Content-Type": "application/json; version=2"}, 415,
                                          ("parameters", "version")),
    # --- bytes that are not UTF-8 ---------------------------------------------------------------------------
    "non-UTF-8 bytes in JSON": Bad(b'{"inputs": ["\xff\xfe ' + MARKER.encode() + b'"]}', JSON, 400, ("UTF-8",)),
    "non-UTF-8 bytes in CSV": Bad(b"text\n\xff\xfe" + MARKER.encode() + b"\n", CSV, 400, ("UTF-8",)),
    "gzip body without decoding": Bad(gzip.compress(with_text(TEXT)), {**JSON, "Content-Encoding": "gzip"}, 400,
                                      ("UTF-8",)),
    "binary garbage as CSV": Bad(bytes(range(256)) * 8 + MARKER.encode(), CSV, 400, ("UTF-8",)),
    # --- broken, deep and huge JSON -------------------------------------------------------------------------
    "empty body": Bad(b"", JSON, 400, ("JSON",)),
    "whitespace body": Bad(b" \n\t ", JSON, 400, ("JSON",)),
    "truncated JSON": Bad(b'{"dataframe_records": [{"text": "' + MARKER.encode(), JSON, 400, ("JSON",)),
    "trailing garbage": Bad(with_text(TEXT) + b"}}" + MARKER.encode(), JSON, 400, ("JSON", "extra data")),
    "single quotes": Bad(f"{{'inputs': ['{MARKER}']}}".encode(), JSON, 400, ("JSON", "double quotes")),
    "comment in JSON": Bad(b'{"inputs": ["a"] /* ' + MARKER.encode() + b" */}", JSON, 400, ("JSON",)),
    "100k nested arrays": Bad(b"[" * 100_000 + MARKER.encode() + b"]" * 100_000, JSON, 400, ("nested too deeply",)),
    "50k nested objects": Bad(b'{"inputs": ' + b'{"a": ' * 50_000 + b'"' + MARKER.encode() + b'"' + b"}" * 50_001,
                              JSON, 400, ("nested too deeply",)),
    "deep value inside a row": Bad(b'{"dataframe_records": [{"note": "' + MARKER.encode() + b'", "text": '
                                   + b"[" * 5_000 + b"]" * 5_000 + b"}]}", JSON, 400, ("nested too deeply",)),
    "5000-digit integer": Bad(b'{"dataframe_records": [{"note": "' + MARKER.encode() + b'", "text": '
                              + b"9" * 5_000 + b"}]}", JSON, 400, ("integer", "too many digits")),
    # --- wrong shapes ---------------------------------------------------------------------------------------
    "JSON null": Bad(b"null", JSON, 400, (FORMATS,)),
    "JSON string": Bad(j(TEXT), JSON, 400, (FORMATS,)),
    "JSON number": Bad(b"42", JSON, 400, (FORMATS,)),
    "JSON list of records": Bad(j([{"text": TEXT}]), JSON, 400, (FORMATS, "list")),
    "empty object": Bad(b"{}", JSON, 400, (FORMATS,)),
    "unknown format key": Bad(j({"records": [{"text": TEXT}]}), JSON, 400, (FORMATS, "records")),
    "two format keys": Bad(j({"dataframe_records": [{"text": TEXT}], "inputs": [TEXT]}), JSON, 400, (FORMATS,)),
    "records: null": Bad(j({"dataframe_records": None, "note": MARKER}), JSON, 400, ("list of records",)),
    "records: a string": Bad(j({"dataframe_records": TEXT}), JSON, 400, ("list of records",)),
    "records: an object": Bad(j({"dataframe_records": {"text": TEXT}}), JSON, 400, ("list of records",)),
    "records: list of lists": Bad(j({"dataframe_records": [[TEXT]]}), JSON, 400, ("no 'text' column",)),
    "records: list of strings": Bad(j({"dataframe_records": [TEXT]}), JSON, 400, ("no 'text' column",)),
    "records: no text column": Bad(j({"dataframe_records": [{"title": TEXT}]}), JSON, 400, ("no 'text' column",)),
    "records: empty list": Bad(j({"dataframe_records": [], "note": MARKER}), JSON, 400, ("cannot be empty",)),
    "records: 30k columns, no text": Bad(j({"dataframe_records": [{f"c{i}": MARKER for i in range(30_000)}]}), JSON,
                                         400, ("no 'text' column",)),
    "split: no columns": Bad(j({"dataframe_split": {"data": [[TEXT]]}}), JSON, 400, ("no 'text' column",)),
    "split: columns and data disagree": Bad(j({"dataframe_split": {"columns": ["text", "x"], "data": [[TEXT]]}}),
                                            JSON, 400, ("columns",)),
    "split: data is a string": Bad(j({"dataframe_split": {"columns": ["text"], "data": TEXT}}), JSON, 400,
                                   ("split",)),
    "split: a list": Bad(j({"dataframe_split": [[TEXT]]}), JSON, 400, ("split", "dictionary")),
    "inputs: no text field": Bad(j({"inputs": {"title": [TEXT]}}), JSON, 400, ("no 'text' field",)),
    "inputs: empty list": Bad(j({"inputs": [], "note": MARKER}), JSON, 400, ("cannot be empty",)),
    "inputs: records without text": Bad(j({"inputs": [{"title": TEXT}]}), JSON, 400, ("row 0", "null")),
    "inputs: text is a nested list": Bad(j({"inputs": {"text": [[TEXT]]}}), JSON, 400, NOT_A_STRING),
    "instances: integers": Bad(j({"instances": [1, 2, 3], "note": MARKER}), JSON, 400, NOT_A_STRING),
    "instances: nested lists": Bad(j({"instances": [[[TEXT]]]}), JSON, 400, NOT_A_STRING),
    # --- nulls, NaN, numbers, nested objects as the text ----------------------------------------------------
    "text null": Bad(with_text(None), JSON, 400, ("row 0", "null")),
    "text NaN": Bad(b'{"dataframe_records": [{"note": "' + MARKER.encode() + b'", "text": NaN}]}', JSON, 400,
                    ("row 0", "null")),
    "text Infinity": Bad(b'{"dataframe_records": [{"note": "' + MARKER.encode() + b'", "text": Infinity}]}', JSON,
                         400, NOT_A_STRING),
    "text 1e400": Bad(b'{"dataframe_records": [{"note": "' + MARKER.encode() + b'", "text": 1e400}]}', JSON, 400,
                      NOT_A_STRING),
    "text integer": Bad(with_text(42), JSON, 400, NOT_A_STRING),
    "text float": Bad(with_text(0.5), JSON, 400, NOT_A_STRING),
    "text boolean": Bad(with_text(True), JSON, 400, NOT_A_STRING),
    "text nested object": Bad(with_text({"title": TEXT}), JSON, 400, NOT_A_STRING),
    "text list": Bad(with_text([TEXT, TEXT]), JSON, 400, NOT_A_STRING),
    "text empty": Bad(with_text(""), JSON, 400, ("row 0", "empty")),
    "text whitespace": Bad(with_text(" \t\n "), JSON, 400, ("row 0", "whitespace")),
    "second row bad": Bad(j({"dataframe_records": [{"text": TEXT}, {"text": 7}]}), JSON, 400, ("row 1", "string")),
    # --- sizes ----------------------------------------------------------------------------------------------
    "1 MB single text": Bad(j({"inputs": {"text": [MARKER + "a" * 1_000_000]}}), JSON, 413,
                            ("1000017 characters", "limit is 20000"), big=True),
    "100k rows (inputs)": Bad(j({"inputs": {"text": [MARKER] + ["a"] * 99_999}}), JSON, 413,
                              ("100000 rows", "limit is 5000"), big=True),
    "100k rows (split)": Bad(j({"dataframe_split": {"columns": ["text"], "data": [[MARKER]] + [["a"]] * 99_999}}),
                             JSON, 413, ("100000 rows",), big=True),
    "100k rows (CSV)": Bad(("text\n" + MARKER + "\n" + "a\n" * 99_999).encode(), CSV, 413, ("100000 rows",),
                           big=True),
    "100k rows (records, 1.5 MB)": Bad(j({"dataframe_records": [{"text": MARKER}] * 100_000}), JSON, 413,
                                       ("bytes", "limit is 1048576"), big=True),
    "2 MB body": Bad(j({"inputs": {"text": [MARKER * 120_000]}}), JSON, 413, ("bytes", "limit"), big=True),
    "2 MB chunked body": Bad(lambda: chunks(2 * MiB), JSON, 413, ("exceeds the limit",), big=True),
    "Parquet: 20M rows in 50 KB": Bad(parquet_many_rows, PARQUET, 413, ("20000000 rows",), big=True),
    "Parquet: 50 MB text in 2 KB": Bad(parquet_huge_text, PARQUET, 413, ("uncompressed",), big=True),
    # --- CSV and Parquet ------------------------------------------------------------------------------------
    "CSV empty": Bad(b"", CSV, 400, ("CSV",)),
    "CSV header only": Bad(b"text\n", CSV, 400, ("cannot be empty",)),
    "CSV without text column": Bad(f"title\n{MARKER}\n".encode(), CSV, 400, ("no 'text' column",)),
    "JSON sent as CSV": Bad(j({"inputs": [MARKER]}), CSV, 400, ("'text' column",)),
    "Parquet garbage": Bad(b"PAR1" + MARKER.encode() + b"PAR1", PARQUET, 400, ("Parquet",)),
    "Parquet without text column": Bad(parquet_without_text, PARQUET, 400, ("no 'text' column",)),
    # --- params ---------------------------------------------------------------------------------------------
    "unknown param": Bad(with_params({"temperature": 0.5}), JSON, 400, ("unknown param", "temperature")),
    "params a string": Bad(with_params(MARKER), JSON, 400, ("'params'", "JSON object", "a string")),
    "params a number": Bad(with_params(5), JSON, 400, ("'params'", "JSON object")),
    "params a list": Bad(with_params([0.5]), JSON, 400, ("'params'", "JSON object")),
    "threshold null": Bad(with_params({"threshold": None}), JSON, 400, ("threshold", "between 0 and 1")),
    "threshold boolean": Bad(with_params({"threshold": True}), JSON, 400, ("threshold",)),
    "threshold NaN": Bad(b'{"inputs": ["' + MARKER.encode() + b'"], "params": {"threshold": NaN}}', JSON, 400,
                         ("threshold", "nan")),
    "threshold Infinity": Bad(b'{"inputs": ["' + MARKER.encode() + b'"], "params": {"threshold": Infinity}}', JSON,
                              400, ("threshold", "inf")),
    "threshold a string": Bad(with_params({"threshold": MARKER}), JSON, 400, ("threshold", "a string")),
    "threshold a list": Bad(with_params({"threshold": [0.5]}), JSON, 400, ("threshold", "an array")),
    "threshold an object": Bad(with_params({"threshold": {"value": MARKER}}), JSON, 400, ("threshold", "an object")),
    "threshold 1.5": Bad(with_params({"threshold": 1.5}), JSON, 400, ("threshold", "1.5")),
    "threshold -0.1": Bad(with_params({"threshold": -0.1}), JSON, 400, ("threshold", "-0.1")),
    # --- methods and paths ----------------------------------------------------------------------------------
    "GET /invocations": Bad(b"", {}, 405, ("method not allowed",), method="GET"),
    "PUT /invocations": Bad(with_text(TEXT), JSON, 405, ("method not allowed",), method="PUT"),
    "DELETE /invocations": Bad(b"", {}, 405, ("method not allowed",), method="DELETE"),
    "PATCH /invocations": Bad(with_text(TEXT), JSON, 405, ("method not allowed",), method="PATCH"),
    "POST /predict": Bad(with_text(TEXT), JSON, 404, ("not found",), path="/predict"),
    "POST /ping": Bad(with_text(TEXT), JSON, 405, ("method not allowed",), path="/ping"),
}
BIG = [name for name, case in BAD.items() if case.big]
GOOD = {"dataframe_records": [{"text": "Transfer learning with transformers for text classification."}]}


@pytest.fixture(scope="module")
def server(hardened_server):
    """The session's shared `tagifai serve` (credential-like variables set to `server_secret`)."""
    return hardened_server


def send(server, case: Bad, request_id: str) -> httpx.Response:
    return httpx.request(case.method, server.url + case.path, content=case.content(),
                         headers={**case.headers, "X-Request-ID": request_id}, timeout=60)


def assert_clean_error(response: httpx.Response, request_id: str, secret: str) -> dict:
    """A JSON error of our shape, the ids and model headers, no trace, nothing of the request or a secret."""
    assert response.headers["content-type"] == "application/json", response.headers
    error = response.json()
    assert set(error) == ERROR_KEYS, error
    assert error["request_id"] == response.headers["x-request-id"] == request_id
    assert response.headers["x-model-name"] and response.headers["x-model-version"]
    assert 0 < len(error["message"]) <= 300
    raw = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    for sign in TRACE_SIGNS:
        assert sign not in raw, f"{sign!r} in {raw!r}"
    assert MARKER not in raw, f"the request body came back: {raw[:500]}"
    assert secret not in raw
    return error


def assert_good_request_works(server) -> None:
    response = server.post(GOOD)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["predicted_tag"] == "natural-language-processing"


def test_there_are_at_least_40_distinct_cases():
    assert len(BAD) >= 40
    assert len({(case.body if not callable(case.body) else case.body.__name__, tuple(case.headers.items()),
                 case.method, case.path) for case in BAD.values()}) == len(BAD)


@pytest.mark.parametrize("name", list(BAD))
def test_bad_request_gets_a_clean_4xx_that_names_the_problem(server, server_secret, name):
    case = BAD[name]
    request_id = f"bad-{uuid.uuid4().hex[:12]}"
    response = send(server, case, request_id)
    assert response.status_code == case.status, f"{response.status_code}: {response.text[:500]}"
    message = assert_clean_error(response, request_id, server_secret)["message"]
    for phrase in case.phrases:
        assert phrase.lower() in message.lower(), f"{phrase!r} not in {message!r}"
    assert_good_request_works(server)


def rss_mib(server, serve_helpers) -> float:
    return serve_helpers.rss_kib(server.process.pid) / 1024


def test_memory_returns_near_baseline_after_the_big_requests(server, serve_helpers):
    """Three rounds of every big request (1 MB text, 100k rows, Parquet bombs, 2 MB bodies): resident memory
    afterwards stays within 64 MiB (or 15%) of where it was before them, and does not climb round after round."""
    assert serve_helpers.worker_pids(server.process.pid) == []  # one worker: it serves in this process
    for _ in range(20):
        assert_good_request_works(server)
    baseline = rss_mib(server, serve_helpers)
    after_round = []
    for _ in range(3):
        for name in BIG:
            response = send(server, BAD[name], "big")
            assert response.status_code == BAD[name].status, name
        assert_good_request_works(server)
        after_round.append(rss_mib(server, serve_helpers))
    print(f"RSS MiB: baseline {baseline:.0f}, after each round {[round(r) for r in after_round]}")
    allowed = max(64.0, 0.15 * baseline)
    assert after_round[-1] - baseline < allowed, (baseline, after_round)
    assert after_round[-1] - after_round[0] < 32, f"memory climbs round after round: {after_round}"


# --- below HTTP semantics: requests uvicorn itself refuses, or that stop half-way -------------------------


def raw_exchange(server, data: bytes, read_timeout: float = 10.0) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
                if b"\r\n\r\n" in received and b"content-length" not in received.lower():
                    break
                head, _, body = received.partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                          if line.startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
        except (TimeoutError, ConnectionResetError):
            pass
    return received


RAW = {
    # Our middleware answers these (JSON):
    "declared length over the limit, body never sent": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n"
        b"\r\n", 413),
    # uvicorn (h11) refuses these before any app code runs (plain text "Invalid HTTP request received."):
    "non-numeric Content-Length": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}",
        400),
    "negative Content-Length": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n{}",
        400),
    "garbage request line": (b"\x16\x03\x01\x02\x00" + MARKER.encode() + b"\r\n\r\n", 400),
    "header without a colon": (b"POST /invocations HTTP/1.1\r\nHost: x\r\n" + MARKER.encode() + b"\r\n\r\n", 400),
}


@pytest.mark.parametrize("name", list(RAW))
def test_protocol_violations_get_4xx_and_the_server_survives(server, name):
    data, status = RAW[name]
    answer = raw_exchange(server, data)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:300]
    assert MARKER.encode() not in answer and b"Traceback" not in answer
    if status == 413:
        assert b'"error_code": "REQUEST_TOO_LARGE"' in answer
    assert_good_request_works(server)


def test_a_client_that_disconnects_mid_body_does_not_hurt_the_server(server):
    host, port = server.url.removeprefix("http://").split(":")
    for _ in range(5):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n" + b'{"inputs": ["' + MARKER.encode())
    assert_good_request_works(server)


# --- last: what the server wrote about all of the above -------------------------------------------------


def test_the_log_holds_no_request_body_no_secret_and_one_json_access_line_per_request(server, server_secret):
    assert_good_request_works(server)
    log = server.log()
    assert MARKER not in log, "a request body reached the server log"
    assert server_secret not in log
    access = [json.loads(line) for line in log.splitlines() if line.startswith('{"request_id"')]
    assert len(access) >= len(BAD)  # (the server is shared: other modules' requests are in there too)
    keys = {"request_id", "method", "path", "status", "duration_ms", "model_version", "role", "token", "bytes_in",
            "bytes_out", "client"}
    assert all(set(entry) == keys for entry in access)
    assert {entry["status"] for entry in access} >= {200, 400, 404, 405, 413, 415}
    assert all(entry["status"] < 500 for entry in access), [e for e in access if e["status"] >= 500]
    assert "Traceback" not in log
