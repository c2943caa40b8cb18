"""Optional bearer tokens (`tagifai serve --auth-token-file PATH`): every route but the probes and /metrics
needs `Authorization: Bearer <token>`. The file holds one token per line, or `name:token`; the access log
records the name, never the token."""

from __future__ import annotations

import hmac
from pathlib import Path

from serving.errors import InvalidSettingError, send_error
from serving.logs import REQUEST_ID
from tagifai.errors import TagifaiError

OPEN_PATHS = frozenset({"/ping", "/health", "/livez", "/readyz", "/metrics"})


class UnauthorizedError(TagifaiError):
    http_status = 401
    error_code = "UNAUTHENTICATED"


def read_tokens(path: str | Path) -> dict[bytes, str]:
    """token -> name. A line without a name is named by its line number (`token-3`)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise InvalidSettingError(f"auth_token_file: cannot read {path}: {exc.strerror or exc}") from None
    tokens: dict[bytes, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, token = line.rpartition(":")
        name, token = (name.strip(), token.strip()) if sep else (f"token-{number}", line)
        if len(token) < 16:
            raise InvalidSettingError(f"auth_token_file line {number}: a token must have at least 16 characters")
        tokens[token.encode()] = name
    if not tokens:
        raise InvalidSettingError(f"auth_token_file: {path} holds no token")
    return tokens


def token_name(tokens: dict[bytes, str], presented: bytes) -> str | None:
    """The name of the token presented, comparing with every token in constant time (no early exit either)."""
    found = None
    for token, name in tokens.items():
        if hmac.compare_digest(token, presented):
            found = name
    return found


class TokenAuth:
    """ASGI: refuses a request without a known bearer token with a JSON 401; records the token's name in the
    scope (`scope["tagifai.token"]`) for the access log."""

    def __init__(self, app, tokens: dict[bytes, str]):
        self.app, self.tokens = app, tokens

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        name = token_name(self.tokens, _bearer(scope))
        if name is None:
            error = UnauthorizedError("missing or unknown bearer token: send 'Authorization: Bearer <token>'")
            return await send_error(send, error, REQUEST_ID.get(), [(b"www-authenticate", b"Bearer")])
        scope["tagifai.token"] = name
        await self.app(scope, receive, send)


def _bearer(scope) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            scheme, _, token = value.partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" else b""
    return b""
