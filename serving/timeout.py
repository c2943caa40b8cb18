"""MLflow's request timeout, without Starlette's BaseHTTPMiddleware.

`scoring_server.init()` adds its timeout as `@app.middleware("http")`. Starlette runs such a function through
BaseHTTPMiddleware, which for every request builds a task group, memory streams and a streaming response
around the real one: measured, a third of the CPU the whole app spends on a one-row request (more than the
model). `pure_asgi_timeout(app, seconds)` takes that middleware out and wraps the app in `RequestTimeout`,
which answers the same way: 504 "Request processing time exceeded limit" when the app has not answered within
`seconds` (the model's thread is left to finish, as before).
"""

from __future__ import annotations

import asyncio
import logging

from starlette.middleware.base import BaseHTTPMiddleware

logger = logging.getLogger(__name__)
TIMEOUT_MESSAGE = b"Request processing time exceeded limit"  # MLflow's words
_MLFLOW_DISPATCH = "timeout_middleware"
_timeout = getattr(asyncio, "timeout", None)  # Python >= 3.11


class RequestTimeout:
    """Pure ASGI: cancel the request's handling after `seconds` and answer 504 if nothing was sent yet."""

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
            await send({"type": "http.response.start", "status": 504, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(TIMEOUT_MESSAGE)).encode())]})
            await send({"type": "http.response.body", "body": TIMEOUT_MESSAGE})


def pure_asgi_timeout(app, seconds: float):
    """The FastAPI app MLflow's init() returned, its BaseHTTPMiddleware timeout replaced by RequestTimeout.

    Call before the app serves its first request (Starlette builds its middleware stack then). If MLflow no
    longer adds that middleware, the app is returned as it is.
    """
    kept = [m for m in app.user_middleware
            if not (m.cls is BaseHTTPMiddleware and getattr(m.kwargs.get("dispatch"), "__name__", "") == _MLFLOW_DISPATCH)]
    if len(kept) == len(app.user_middleware) or app.middleware_stack is not None:
        return app
    app.user_middleware = kept
    return RequestTimeout(app, seconds)
