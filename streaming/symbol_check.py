"""At start, every configured symbol is checked against the exchange's ``exchangeInfo``.

Why: the exchange accepts a subscription to a symbol it does not list (or one that is halted) and simply
sends nothing (spec §1.7), so a typo in symbols.yaml would be a silent hole. A symbol that is unknown or not
``TRADING`` is left out with an ERROR log naming it, ``streaming_symbol_unavailable{symbol,reason}`` = 1, a
``symbols_unavailable`` entry in /status (``./monitor.sh`` warns) — and the other symbols run normally.
When exchangeInfo cannot be read, every symbol is kept (the check is reported as not done)."""
from __future__ import annotations

import logging
from typing import Any

import aiohttp

log = logging.getLogger("streaming.symbols")


def unavailable_symbols(info: dict[str, Any], wanted: list[str]) -> dict[str, str]:
    """{symbol: reason} for the ``wanted`` symbols that ``info`` (an exchangeInfo reply) does not offer."""
    listed = {s.get("symbol"): s.get("status") for s in info.get("symbols") or () if isinstance(s, dict)}
    out = {}
    for sym in wanted:
        status = listed.get(sym)
        if status is None:
            out[sym] = "unknown symbol: not listed in exchangeInfo"
        elif status != "TRADING":
            out[sym] = f"not trading: exchangeInfo status {status}"
    return out


async def check_symbols(rest_url: str, wanted: list[str], timeout: float = 10.0,
                        ssl_ctx: Any = True) -> dict[str, str] | None:
    """``unavailable_symbols`` from the live exchangeInfo (all symbols, weight 20); None when it cannot be read."""
    url = rest_url.rstrip("/") + "/api/v3/exchangeInfo"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            async with s.get(url, ssl=ssl_ctx) as r:
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}")
                info = await r.json(content_type=None)
    except Exception as e:  # noqa: BLE001 - not fatal: run every symbol, say the check was not done
        log.warning("exchangeInfo not readable; symbols not checked", extra={"url": url, "error": repr(e)[:300]})
        return None
    bad = unavailable_symbols(info, wanted)
    for sym, reason in bad.items():
        log.error("configured symbol is not available on the exchange; it is skipped (the others run)",
                  extra={"symbol": sym, "reason": reason})
    return bad
