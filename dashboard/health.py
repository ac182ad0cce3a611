"""Pipeline health: freshness per layer (ingest → bronze → silver → gold → serving → live), DLQ size,
unfilled gaps and the data source. Answers are kept for a few seconds so a page full of browsers asks
the database, Dagster and the ingest service once, not once each."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

import aiohttp
from fastapi import APIRouter, Request

from dashboard.db import CANDLE_SYMBOLS_CTE, fetch_all
from dashboard.models import Health

router = APIRouter(prefix="/api", tags=["health"])

TTL_S = 5.0
# a layer older than this is shown as stale: live ticks arrive every second, the bronze stream commits
# every few seconds, silver runs every 5 min, gold and the serving syncs follow silver
STALE_AFTER_S = {"ingest": 60, "bronze": 300, "silver": 900, "gold": 1800, "serving": 900, "live": 60}
BRONZE_ASSET = "bronze_trades"

SYNC_SQL = "select table_name, last_synced_commit, rows_last_sync, synced_at from sync_state order by table_name"
LIVE_SQL = """select max(updated_at) as last, count(*) as n, array_agg(distinct source) as sources
 from latest_ticker"""
# missing 1m candles in the last 24 h per symbol: one index range per symbol
GAPS_SQL = CANDLE_SYMBOLS_CTE + """select s.symbol, g.missing from s cross join lateral (
  select (max(open_time_ms) - min(open_time_ms)) / 60000 + 1 - count(*) as missing from candles c
  where c.symbol = s.symbol and c."interval" = '1m' and c.open_time_ms >= %(since)s) g
where s.symbol is not null and g.missing is not null"""
BRONZE_GQL = ('{ assetOrError(assetKey: {path: ["%s"]}) { ... on Asset { assetMaterializations(limit: 1) '
              '{ timestamp } } } }' % BRONZE_ASSET)


def hudi_instant_ms(instant: str | None) -> int | None:
    """A Hudi instant (yyyyMMddHHmmss[SSS], UTC on this stack) as epoch ms."""
    if not instant or not instant[:14].isdigit():
        return None
    dt = datetime.strptime(instant[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000) + (int(instant[14:17]) if instant[14:17].isdigit() else 0)


def _layer(name: str, last_ms: int | None, now_ms: int, detail: str) -> dict[str, Any]:
    if last_ms is None:
        return {"layer": name, "status": "empty", "last_ms": None, "age_s": None, "detail": detail}
    age = max(0.0, (now_ms - last_ms) / 1000)
    return {"layer": name, "status": "ok" if age <= STALE_AFTER_S[name] else "stale", "last_ms": last_ms,
            "age_s": round(age, 1), "detail": detail}


async def _json(session: aiohttp.ClientSession, url: str, **kw) -> dict | None:
    try:
        async with session.request("POST" if "json" in kw else "GET", url, **kw) as resp:
            return await resp.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return None


class HealthProbe:
    def __init__(self, pool, streaming_status_url: str | None, dagster_url: str | None, live_up) -> None:
        self.pool, self.status_url, self.dagster_url, self.live_up = pool, streaming_status_url, dagster_url, live_up
        self._cached: tuple[float, dict] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> dict:
        async with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < TTL_S:
                return self._cached[1]
            result = await self._probe()
            self._cached = (time.monotonic(), result)
            return result

    async def _probe(self) -> dict:
        now_ms = int(time.time() * 1000)
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            status, bronze, sync, live, gaps = await asyncio.gather(
                _json(http, self.status_url) if self.status_url else _none(),
                _json(http, f"{self.dagster_url}/graphql", json={"query": BRONZE_GQL}) if self.dagster_url else _none(),
                fetch_all(self.pool, SYNC_SQL), fetch_all(self.pool, LIVE_SQL),
                fetch_all(self.pool, GAPS_SQL, {"since": now_ms - 86_400_000}))
        layers = [self._ingest(status, now_ms), self._bronze(bronze, now_ms)]
        layers += self._synced(sync, now_ms)
        row = live[0]
        last_live = int(row["last"].timestamp() * 1000) if row["last"] else None
        layers.append(_layer("live", last_live, now_ms, f"{row['n']} symbols, sources {row['sources'] or []}"))
        source = status.get("source") if status else None
        live_sources = [s for s in (row["sources"] or []) if s]
        gaps_by_symbol = {g["symbol"]: int(g["missing"]) for g in gaps}
        return {"now_ms": now_ms, "source": source or (live_sources[0] if len(live_sources) == 1 else None),
                "simulated": bool((source and source != "binance") or any(s != "binance" for s in live_sources)),
                "layers": layers, "dlq_messages": sum(status.get("dlq", {}).values()) if status else None,
                "unfilled_gaps": sum(gaps_by_symbol.values()) if gaps is not None else None,
                "gaps_by_symbol": gaps_by_symbol, "live_listener": bool(self.live_up())}

    @staticmethod
    def _ingest(status: dict | None, now_ms: int) -> dict:
        if status is None:
            return {"layer": "ingest", "status": "unknown", "last_ms": None, "age_s": None,
                    "detail": "streaming service /status did not answer"}
        ok = status.get("state") == "running" and status.get("kafka_ok")
        return {"layer": "ingest", "status": "ok" if ok else "stale", "last_ms": now_ms, "age_s": 0.0,
                "detail": f"{status.get('state')}, {status.get('frames', 0)} frames, source {status.get('source')}"}

    @staticmethod
    def _bronze(answer: dict | None, now_ms: int) -> dict:
        try:
            mats = answer["data"]["assetOrError"]["assetMaterializations"]  # type: ignore[index]
        except (TypeError, KeyError):
            return {"layer": "bronze", "status": "unknown", "last_ms": None, "age_s": None,
                    "detail": "Dagster did not answer"}
        last = int(float(mats[0]["timestamp"])) if mats else None
        return _layer("bronze", last, now_ms, f"last materialisation of {BRONZE_ASSET}")

    @staticmethod
    def _synced(rows: list[dict], now_ms: int) -> list[dict]:
        by = {r["table_name"]: r for r in rows}
        # the candles table mirrors silver; its sync_state row carries the silver commit consumed
        silver = by.get("candles") or next((r for n, r in by.items() if n.startswith("silver")), None)
        gold = [r for name, r in by.items() if name.startswith("gold_")]
        gold_ms = [hudi_instant_ms(r["last_synced_commit"]) for r in gold]
        synced = [int(r["synced_at"].timestamp() * 1000) for r in rows if r["synced_at"]]
        return [
            _layer("silver", hudi_instant_ms(silver["last_synced_commit"]) if silver else None, now_ms,
                   "newest silver commit synced to serving"),
            # the oldest gold table decides: the page shows all of them
            _layer("gold", min(gold_ms) if gold_ms and None not in gold_ms else None, now_ms,
                   f"oldest newest-commit of {len(gold)} gold tables"),
            _layer("serving", max(synced) if synced else None, now_ms, f"last sync of {len(rows)} tables"),
        ]


async def _none() -> None:
    return None


@router.get("/health", response_model=Health, summary="Pipeline health: freshness per layer, DLQ, gaps, source")
async def pipeline_health(request: Request) -> dict:
    return await request.app.state.health.get()
