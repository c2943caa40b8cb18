"""Serve benchmarks.fastapi_app the way `uvicorn --workers N` does, on a socket asyncio sets TCP_NODELAY on.

`uvicorn --workers N` binds its shared socket with protocol 0, and asyncio only turns Nagle off for sockets
whose protocol reads IPPROTO_TCP: every small answer then waits up to 40 ms for the client's delayed ACK.
`tagifai serve` binds its sockets with IPPROTO_TCP (serving/prefork.py); this launcher does the same for the
hand-written app, through uvicorn's public supervisor, so the comparison is about the stacks, not this pitfall.

    BENCH_PREDICTOR_PATH=.../predictor.joblib python -m benchmarks.fastapi_serve --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "benchmarks.fastapi_app:app"


def tcp_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    config = uvicorn.Config(APP, host=args.host, port=args.port, workers=args.workers, log_level="warning")
    sock = tcp_socket(args.host, args.port)
    if args.workers == 1:
        uvicorn.Server(config).run(sockets=[sock])
    else:
        Multiprocess(config, sockets=[sock]).run()


if __name__ == "__main__":
    main()
