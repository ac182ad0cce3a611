"""Choosing the data source: binance, simulator, replay or auto.

``auto`` pings Binance REST (``/api/v3/ping``); when it does not answer, the simulator is used and this
is said loudly (WARNING log, ``streaming_simulated`` = 1, ``/status``), because simulated data must
never pass for real. Records carry the source in the envelope."""
from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from shared.envelope import Source
from streaming.config import StreamingSettings

log = logging.getLogger("streaming.source")


@dataclass(frozen=True)
class SourceChoice:
    name: str            # binance | simulator | replay
    ws_url: str
    rest_url: str
    record_source: Source
    reason: str
    ssl: Any = True      # aiohttp's ``ssl=``: True (system CAs) or a context trusting the endpoint's ca_file


def client_ssl(ca_file: str | None) -> Any:
    """TLS verification for our clients: the system store, or only ``ca_file`` (the simulator's local CA)."""
    if not ca_file:
        return True
    if not Path(ca_file).is_file():
        raise ValueError(f"ca_file {ca_file!r} does not exist (the simulator's CA is made by ./deploy.sh)")
    return ssl.create_default_context(cafile=ca_file)


async def reachable(rest_url: str, timeout: float) -> str | None:
    """None when ``GET /api/v3/ping`` answers 200, else why not."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            async with s.get(rest_url.rstrip("/") + "/api/v3/ping") as r:
                return None if r.status == 200 else f"HTTP {r.status}"
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
        return repr(e)[:200]


async def choose_source(s: StreamingSettings) -> SourceChoice:
    def pick(name: str, reason: str) -> SourceChoice:
        ep = getattr(s, name)
        if not ep.ws_url or not ep.rest_url:
            raise ValueError(f"source {name!r} selected but {name}.ws_url/rest_url are not configured")
        src = {"binance": Source.BINANCE, "simulator": Source.SIMULATOR, "replay": Source.REPLAY}[name]
        return SourceChoice(name, ep.ws_url, ep.rest_url, src, reason, client_ssl(ep.ca_file))

    if s.source != "auto":
        choice = pick(s.source, "configured")
    else:
        why = await reachable(s.binance.rest_url or "", s.auto_probe_timeout_s)
        if why is None:
            choice = pick("binance", "auto: binance reachable")
        else:
            choice = pick("simulator", f"auto: binance unreachable ({why})")
    if choice.name != "binance":
        log.warning("!!! SIMULATED DATA: ingesting from the %s, not from Binance (%s); every record carries "
                    "source=%s !!!", choice.name, choice.reason, choice.record_source.value,
                    extra={"source": choice.name, "ws_url": choice.ws_url, "reason": choice.reason})
    else:
        log.info("source: binance", extra={"ws_url": choice.ws_url, "reason": choice.reason})
    return choice
