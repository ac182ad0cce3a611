"""The read-only connection pool. Every query is parameterised (psycopg binds the values server-side);
identifiers are never taken from a request."""
from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from dashboard.config import DashboardConfig


# s(symbol): the distinct symbols of `candles` by a skip scan over its primary key (symbol, interval,
# open_time_ms) - one index probe per symbol instead of reading every row; ends with a NULL row
CANDLE_SYMBOLS_CTE = """with recursive s(symbol) as (
  (select symbol from candles order by symbol limit 1)
  union all
  select (select c.symbol from candles c where c.symbol > s.symbol order by c.symbol limit 1) from s
  where s.symbol is not null)
"""


def make_pool(cfg: DashboardConfig) -> AsyncConnectionPool:
    # read only even if the role were granted more by mistake: a second line of defence
    async def configure(conn) -> None:
        await conn.set_read_only(True)
        await conn.set_autocommit(True)

    return AsyncConnectionPool(kwargs=cfg.conninfo(), min_size=1, max_size=cfg.pool_max, open=False,
                               configure=configure, name="dashboard", timeout=cfg.pool_timeout_s)


async def fetch_all(pool: AsyncConnectionPool, sql: str, params: dict[str, Any] | tuple = ()) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, params)
        return await cur.fetchall()


async def fetch_one(pool: AsyncConnectionPool, sql: str, params: dict[str, Any] | tuple = ()) -> dict[str, Any] | None:
    rows = await fetch_all(pool, sql, params)
    return rows[0] if rows else None
