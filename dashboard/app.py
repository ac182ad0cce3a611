"""The ASGI app: read API (/api/*, schema at /openapi.json), live events (/api/stream), the page (/) and
its local assets (/static, /vendor: lightweight-charts as installed by infra/install.py)."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from psycopg_pool import PoolTimeout

from dashboard import analytics, health, live, market
from dashboard.config import DashboardConfig
from dashboard.db import make_pool
from dashboard.page_cache import PageCache
from dashboard.params import validation_error_handler

STATIC = Path(__file__).parent / "static"
CHART_JS = "lightweight-charts.standalone.production.js"


def create_app(cfg: DashboardConfig) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = make_pool(cfg)
        await pool.open(wait=False)
        cache = PageCache(cfg.cache_mb * 2**20)

        def on_sync(msg: dict) -> None:
            # every page goes: the payload names the symbols of upserted rows only (not of deleted ones,
            # and a long list is truncated), and rebuilding a few pages per sync costs milliseconds
            if msg.get("table") == "candles":
                cache.invalidate()

        hub = live.LiveHub(cfg.conninfo(), on_sync, cache.set_enabled)
        app.state.pool, app.state.cache, app.state.hub = pool, cache, hub
        app.state.health = health.HealthProbe(pool, cfg.streaming_status_url, cfg.dagster_url, lambda: hub.connected)
        task = asyncio.create_task(hub.run(), name="listen")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await pool.close()

    app = FastAPI(title="crypto-data-pipeline dashboard", version="1", lifespan=lifespan,
                  description="Read API over the serving database (read-only role) and the live market page.")
    app.add_exception_handler(RequestValidationError, validation_error_handler)

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        # the database being down or saturated is a 503 with the reason, not an anonymous 500
        return JSONResponse({"detail": f"serving database unavailable: {str(exc).strip()[:200] or type(exc).__name__}"},
                            status_code=503)

    for r in (market.router, analytics.router, health.router, live.router):
        app.include_router(r)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/vendor/lightweight-charts.js", include_in_schema=False)
    async def chart_library() -> Response:
        if not (cfg.vendor_dir / CHART_JS).exists():
            return PlainTextResponse(f"chart library not installed at {cfg.vendor_dir}: run ./infra/bootstrap.sh",
                                     status_code=503)
        return FileResponse(cfg.vendor_dir / CHART_JS, media_type="text/javascript",
                            headers={"Cache-Control": "max-age=86400"})

    @app.get("/healthz", tags=["health"], summary="Service health: database reachable, LISTEN up, assets installed",
             responses={503: {"description": "not healthy; `reason` says why"}})
    async def healthz(request: Request) -> JSONResponse:
        reason = None
        if not (cfg.vendor_dir / CHART_JS).exists():
            reason = f"chart library missing at {cfg.vendor_dir / CHART_JS}: run ./infra/bootstrap.sh"
        else:
            try:
                async with request.app.state.pool.connection(timeout=3) as conn:
                    await conn.execute("select 1")
            except Exception as exc:  # any failure to reach the database is the answer, not a 500
                reason = f"serving database: {str(exc).strip()[:200] or type(exc).__name__}"
        if reason is None and not request.app.state.hub.connected:
            reason = "LISTEN connection to the serving database is down"
        hub = request.app.state.hub
        return JSONResponse({"ok": reason is None, "reason": reason, "listening": hub.connected,
                             "browsers": len(hub.subscribers)}, status_code=200 if reason is None else 503)

    return app
