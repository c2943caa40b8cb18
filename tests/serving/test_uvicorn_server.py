"""serving.uvicorn_server: the drain asks connections that appear after it began to close, too."""

from __future__ import annotations

import asyncio

import uvicorn

from serving.uvicorn_server import Server


class Connection:
    def __init__(self):
        self.asked = 0

    def shutdown(self):
        self.asked += 1


def test_connections_that_appear_during_the_drain_are_asked_to_close_once():
    server = Server(uvicorn.Config(app=None))
    early, late = Connection(), Connection()

    async def drain():
        server.server_state.connections.add(early)
        task = asyncio.create_task(server._ask_late_connections({early}))  # uvicorn itself asks `early`
        await asyncio.sleep(0.01)
        server.server_state.connections.add(late)  # an accept that was already under way
        await asyncio.sleep(0.2)
        task.cancel()

    asyncio.run(drain())
    assert (early.asked, late.asked) == (0, 1)
