"""HTTP for tests, scripts and benchmarks: the keep-alive client of the load generators (asyncio streams, a
fraction of httpx's CPU per request: on a 2-core machine the client's CPU is taken from the server) and plain
blocking requests for readiness checks and small calls (http.client: no dependency)."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
from typing import Any
from urllib.parse import urlsplit

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[ \t]*chunked", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
# What a blocking request raises when nothing (or nothing sane) answers: refused, reset, timed out, garbled.
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)


class Connection:
    """One keep-alive HTTP/1.1 connection: POST a body (or GET a path), read the status and the body
    (Content-Length, chunked, or up to the close).

    `reconnect`: a keep-alive connection the server closed before answering is opened again once (the load
    generator); without it a lost connection raises (the soak counts it as an error)."""

    def __init__(self, host: str, port: int, path: str = "/invocations", content_type: str = "application/json",
                 reconnect: bool = True, limit: int = 2**24):
        self.host, self.port, self.reconnect, self.limit = host, port, reconnect, limit
        self.head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
                     "Content-Length: ").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_head = b""  # the last response's status line and headers, as received

    async def post(self, body: bytes) -> tuple[int, bytes]:
        return await self._exchange(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def get(self, path: str) -> tuple[int, bytes]:
        """GET `path` on the same keep-alive connection (e.g. /predictions/42)."""
        return await self._exchange(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=self.limit)
            try:
                self.writer.write(request)
                head = self.last_head = await self.reader.readuntil(b"\r\n\r\n")
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2 or not self.reconnect:
                    raise
        status = int(head.split(b" ", 2)[1])
        if match := _CONTENT_LENGTH.search(head):
            data = await self.reader.readexactly(int(match.group(1)))
        elif _CHUNKED.search(head):
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
            data = b"".join(parts)
        else:  # no length: the server closes the connection after the body
            data = await self.reader.read()
            await self.close()
            return status, data
        if _CLOSE.search(head):
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None


def request(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float = 30.0) -> tuple[int, bytes]:
    """One blocking request on a new connection: (status, body). TRANSPORT_ERRORS go through."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else "") or "/", body=body,
                           headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def get(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    return request("GET", url, timeout=timeout)


def post_json(url: str, payload: Any, timeout: float = 60.0) -> tuple[int, Any]:
    """POST `payload` as JSON (bytes: sent as they are): (status, the parsed JSON answer, or its bytes if it is not
    JSON)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, data = request("POST", url, body, {"Content-Type": "application/json"}, timeout)
    try:
        return status, json.loads(data)
    except ValueError:
        return status, data


def answers_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether GET `url` answers 200 now (False while nothing listens or the answer does not come in time)."""
    try:
        return get(url, timeout)[0] == 200
    except TRANSPORT_ERRORS:
        return False
