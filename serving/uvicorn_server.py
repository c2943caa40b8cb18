"""uvicorn's Server with two additions, for one worker and for forked workers alike.

- A line on stderr once it accepts connections (`worker <pid> ready`): operators see each worker come up and be
  replaced, and the tests and the soak script wait for it.
- A drain that closes every connection. On SIGTERM uvicorn asks the connections open at that moment to close
  (idle ones at once, busy ones after their response), then waits for all connections to go, up to the drain
  window. A connection whose accept was already under way is added a moment later and is never asked: under
  steady keep-alive load it kept a worker up for the whole window (seen as a 60 s+ stop on a loaded CI
  machine). Here every connection that appears during the drain is asked too.
"""

from __future__ import annotations

import asyncio
import os
import sys

import uvicorn

READY_LINE = "worker {pid} ready"


class Server(uvicorn.Server):
    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started:
            # One write with its newline: forked workers share stderr, and print() writes the newline apart
            # when Python runs unbuffered (PYTHONUNBUFFERED), so two workers' lines could run together.
            sys.stderr.write(READY_LINE.format(pid=os.getpid()) + "\n")
            sys.stderr.flush()

    async def shutdown(self, sockets=None) -> None:
        asked = set(self.server_state.connections)  # uvicorn asks these itself, before its first await
        closer = asyncio.create_task(self._ask_late_connections(asked))
        try:
            await super().shutdown(sockets)
        finally:
            closer.cancel()

    async def _ask_late_connections(self, asked: set) -> None:
        while True:
            for connection in list(self.server_state.connections):
                if connection not in asked:
                    asked.add(connection)
                    connection.shutdown()
            await asyncio.sleep(0.05)


def serve(app, options: dict, sockets=None) -> bool:
    """Run until stopped; False if it never started (e.g. the port is taken: uvicorn has logged why)."""
    server = Server(uvicorn.Config(app, **options))
    server.run(sockets=sockets)
    return server.started
