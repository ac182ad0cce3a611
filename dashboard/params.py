"""Query parameters shared by the endpoints, and the 422 answer that names the parameter and its value."""
from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from crypto_pipeline.silver.intervals import INTERVAL_MS

MAX_MS = 4_102_444_800_000          # 2100-01-01: anything later is a typo, not a query
# window_bars per interval when the caller gives none (docs/contracts-gold-serving.md)
DEFAULT_WINDOW = {"1m": 1440, "5m": 288, "15m": 96, "1h": 720, "4h": 180, "1d": 30}

Interval = Enum("Interval", {k: k for k in INTERVAL_MS}, type=str)  # type: ignore[misc]

SymbolQ = Annotated[str, Query(pattern=r"^[A-Z0-9]{2,20}$", description="e.g. BTCUSDT")]
SymbolP = Annotated[str, Path(pattern=r"^[A-Z0-9]{2,20}$", description="e.g. BTCUSDT")]
OptSymbolQ = Annotated[str | None, Query(pattern=r"^[A-Z0-9]{2,20}$")]
IntervalQ = Annotated[Interval, Query(description="candle interval")]
OptIntervalQ = Annotated[Interval | None, Query(description="candle interval (all when absent)")]
FromQ = Annotated[int | None, Query(alias="from", ge=0, le=MAX_MS, description="first open time, epoch ms (inclusive)")]
ToQ = Annotated[int | None, Query(alias="to", ge=0, le=MAX_MS, description="last open time, epoch ms (inclusive)")]
WindowQ = Annotated[int | None, Query(ge=2, le=100_000, description="rolling window in bars (default per interval)")]
NameP = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="portfolio name")]


def window_for(interval: Interval, window_bars: int | None) -> int:
    return window_bars if window_bars is not None else DEFAULT_WINDOW[interval.value]


def bad_param(name: str, value: Any, msg: str, where: str = "query") -> RequestValidationError:
    """A 422 for a rule FastAPI cannot express on one parameter (e.g. from > to)."""
    return RequestValidationError([{"type": "value_error", "loc": (where, name), "msg": msg, "input": value}])


def _describe(err: dict) -> str:
    loc = [str(p) for p in err.get("loc", ())]
    where, name = (loc[0], ".".join(loc[1:])) if len(loc) > 1 else ("request", ".".join(loc))
    return f"{where} parameter '{name}' = {err.get('input')!r}: {err.get('msg')}"


async def validation_error_handler(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg", "input")} for e in exc.errors()]
    return JSONResponse(status_code=422, content={
        "message": "; ".join(_describe(e) for e in errors), "detail": errors})
