"""`latest_ticker` upserts guarded by event order, each with its NOTIFY in the same statement.

Each part of the row has its own guard (WHERE of the ON CONFLICT update): the last price and the 24h stats
move only to a strictly newer event time, the book only to a higher bookTicker update id. A replayed or
reordered event therefore changes nothing, and only a row that actually changed is announced on
`serving_ticker` (pg_notify in the statement: delivered when the transaction commits)."""
from __future__ import annotations

import psycopg

from serving.ticker_events import BookUpdate, PriceUpdate, StatsUpdate, Update

TICKER_CHANNEL = "serving_ticker"

_NOTIFY = ("), changed as (select * from up) select count(pg_notify('serving_ticker', "
           "row_to_json(changed)::text)) from changed")

PRICE_SQL = ("with up as (insert into latest_ticker as t (symbol, last_price, event_time_ms, source, updated_at) "
             "values (%s, %s, %s, %s, clock_timestamp()) on conflict (symbol) do update set "
             "last_price = excluded.last_price, event_time_ms = excluded.event_time_ms, source = excluded.source, "
             "updated_at = excluded.updated_at "
             "where excluded.event_time_ms > coalesce(t.event_time_ms, -1) returning t.*" + _NOTIFY)

STATS_SQL = ("with up as (insert into latest_ticker as t (symbol, price_change, price_change_pct, open_price, "
             "high_price, low_price, volume, quote_volume, stats_event_time_ms, source, updated_at) "
             "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp()) on conflict (symbol) do update set "
             "price_change = excluded.price_change, price_change_pct = excluded.price_change_pct, "
             "open_price = excluded.open_price, high_price = excluded.high_price, low_price = excluded.low_price, "
             "volume = excluded.volume, quote_volume = excluded.quote_volume, "
             "stats_event_time_ms = excluded.stats_event_time_ms, source = excluded.source, "
             "updated_at = excluded.updated_at "
             "where excluded.stats_event_time_ms > coalesce(t.stats_event_time_ms, -1) returning t.*" + _NOTIFY)

BOOK_SQL = ("with up as (insert into latest_ticker as t (symbol, best_bid, best_bid_qty, best_ask, best_ask_qty, "
            "book_update_id, book_event_time_ms, source, updated_at) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp()) on conflict (symbol) do update set "
            "best_bid = excluded.best_bid, best_bid_qty = excluded.best_bid_qty, best_ask = excluded.best_ask, "
            "best_ask_qty = excluded.best_ask_qty, book_update_id = excluded.book_update_id, "
            "book_event_time_ms = excluded.book_event_time_ms, source = excluded.source, "
            "updated_at = excluded.updated_at "
            "where excluded.book_update_id > coalesce(t.book_update_id, -1) returning t.*" + _NOTIFY)


def _statement(u: Update) -> tuple[str, tuple]:
    if isinstance(u, PriceUpdate):
        return PRICE_SQL, (u.symbol, u.last_price, u.event_time_ms, u.source)
    if isinstance(u, StatsUpdate):
        return STATS_SQL, (u.symbol, u.price_change, u.price_change_pct, u.open_price, u.high_price, u.low_price,
                           u.volume, u.quote_volume, u.event_time_ms, u.source)
    if isinstance(u, BookUpdate):
        return BOOK_SQL, (u.symbol, u.best_bid, u.best_bid_qty, u.best_ask, u.best_ask_qty, u.update_id,
                          u.event_time_ms, u.source)
    raise TypeError(f"not a ticker update: {u!r}")


def apply_updates(conn: psycopg.Connection, updates: list[Update]) -> int:
    """Apply `updates` in ONE transaction (committed on return); returns how many row parts changed."""
    changed = 0
    with conn.transaction(), conn.cursor() as cur:
        for u in updates:
            cur.execute(*_statement(u))
            changed += cur.fetchone()[0]
    return changed
