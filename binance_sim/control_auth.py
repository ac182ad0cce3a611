"""Bearer-token guard of the ``/_sim`` control API (fault injection, shutdown, reset).

In the deploy stack the simulator gets ``SIMULATOR_CONTROL_TOKEN`` (generated into .env) in its environment and
every ``/_sim`` request must carry ``Authorization: Bearer <token>``; without a token configured (a simulator a
test starts in-process) the API stays open. The exchange API (REST, websocket) is never guarded: Binance's
public market data needs no key either."""
from __future__ import annotations

import hmac
import json

from aiohttp import web

CONTROL_PREFIX = "/_sim"
TOKEN_ENV = "SIMULATOR_CONTROL_TOKEN"


def control_middlewares(token: str | None) -> list:
    if not token:
        return []
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def require_token(request: web.Request, handler):
        if request.path.startswith(CONTROL_PREFIX):
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):  # constant time: no guessing byte by byte
                raise web.HTTPUnauthorized(
                    text=json.dumps({"error": f"the {CONTROL_PREFIX} control API needs "
                                              f"'Authorization: Bearer <{TOKEN_ENV}>'"}),
                    content_type="application/json", headers={"WWW-Authenticate": "Bearer"})
        return await handler(request)

    return [require_token]
