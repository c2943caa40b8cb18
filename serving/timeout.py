"""The request time limit, as pure ASGI (no BaseHTTPMiddleware: that costs a task group, memory streams and a
streaming response per request, a third of a one-row request's CPU)."""

from __future__ import annotations

import asyncio
import logging

from serving.errors import RequestTimeoutError, send_error
from serving.logs import REQUEST_ID

logger = logging.getLogger(__name__)
_timeout = getattr(asyncio, "timeout", None)  # Python >= 3.11


class RequestTimeout:
    """Cancel the request's handling after `seconds` and answer 504 if nothing was sent yet (the model's thread
    is left to finish)."""

    def __init__(self, app, seconds: float):
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if _timeout is not None:
                async with _timeout(self.seconds):  # a timer on this task: no extra task per request
                    await self.app(scope, receive, tracking_send)
            else:  # Python 3.10
                await asyncio.wait_for(self.app(scope, receive, tracking_send), self.seconds)
        except (TimeoutError, asyncio.TimeoutError):
            if started:  # cut off while sending its body: nothing sensible left to say
                logger.warning("request timed out after its response had started: %s", scope.get("path"))
                return
            await send_error(send, RequestTimeoutError(), REQUEST_ID.get())
