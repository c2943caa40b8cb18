"""harness.http against a tiny real HTTP/1.1 server on 127.0.0.1: keep-alive POSTs (Content-Length and chunked
answers), a closed connection, the blocking helpers."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.http import Connection, answers_ok, get, post_json
from harness.ports import free_port


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    connections: set = set()

    def log_message(self, *args):
        pass

    def do_GET(self):
        status = 200 if self.path == "/ping" else 404
        body = b'{"status": "ok"}' if status == 200 else b"not found"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        Echo.connections.add(self.client_address)
        data = self.rfile.read(int(self.headers["Content-Length"]))
        answer = json.dumps({"path": self.path, "got": json.loads(data),
                             "type": self.headers["Content-Type"]}).encode()
        self.send_response(200)
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (answer[:5], answer[5:]):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(answer)))
            if self.path == "/close":
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(answer)


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Echo.connections = set()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_keep_alive_connection_posts_several_bodies_on_one_socket(server):
    async def run():
        connection = Connection("127.0.0.1", server, "/invocations")
        try:
            return [await connection.post(json.dumps({"n": n}).encode()) for n in range(3)]
        finally:
            await connection.close()

    answers = asyncio.run(run())
    assert [status for status, _ in answers] == [200, 200, 200]
    assert [json.loads(body)["got"] for _, body in answers] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert json.loads(answers[0][1]) == {"path": "/invocations", "got": {"n": 0}, "type": "application/json"}
    assert len(Echo.connections) == 1  # one client port: the same connection all along


def test_chunked_answers_and_connection_close_are_read_whole(server):
    async def run(path):
        connection = Connection("127.0.0.1", server, path)
        try:
            first = await connection.post(b"[1]")
            closed = connection.writer is None
            second = await connection.post(b"[2]")
            return first, second, closed
        finally:
            await connection.close()

    (s1, b1), (s2, b2), closed = asyncio.run(run("/chunked"))
    assert (s1, json.loads(b1)["got"], s2, json.loads(b2)["got"], closed) == (200, [1], 200, [2], False)
    (s1, b1), (s2, b2), closed = asyncio.run(run("/close"))
    assert (json.loads(b1)["got"], json.loads(b2)["got"], closed) == ([1], [2], True)  # a new connection


def test_without_reconnect_a_refused_connection_raises():
    async def run():
        connection = Connection("127.0.0.1", free_port(), reconnect=False)
        await connection.post(b"{}")

    with pytest.raises(OSError):
        asyncio.run(run())


def test_blocking_helpers(server):
    url = f"http://127.0.0.1:{server}"
    assert answers_ok(f"{url}/ping")
    assert not answers_ok(f"{url}/missing")
    assert not answers_ok(f"http://127.0.0.1:{free_port()}/ping")
    assert get(f"{url}/ping") == (200, b'{"status": "ok"}')
    status, answer = post_json(f"{url}/invocations", {"dataframe_records": [{"text": "x"}]})
    assert status == 200 and answer["got"] == {"dataframe_records": [{"text": "x"}]}
