"""Fixed payload schemas per event type (binance-market-data.md §2) for ``from_json``.

Why fixed schemas: a new key in an exchange payload is simply not selected (the untouched payload stays
in ``payload_json``), and a renamed/removed key shows up as a null that validation quarantines, so
schema drift never breaks a run. Binance keys differ only by case (p/P, b/B, ...): parsing runs with
``spark.sql.caseSensitive=true``."""
from __future__ import annotations

from pyspark.sql.types import (ArrayType, BooleanType, IntegerType, LongType, StringType, StructField,
                               StructType)

from shared import envelope as env

S, L, B = StringType(), LongType(), BooleanType()


def _struct(**fields) -> StructType:
    return StructType([StructField(k, v) for k, v in fields.items()])


ENVELOPE = StructType([
    StructField(env.F_SCHEMA_VERSION, IntegerType()), StructField(env.F_SOURCE, S), StructField(env.F_EXCHANGE, S),
    StructField(env.F_STREAM, S), StructField(env.F_SYMBOL, S), StructField(env.F_EVENT_TYPE, S),
    StructField(env.F_EVENT_TIME, L), StructField(env.F_INGEST_TIME, L),
    StructField(env.F_PAYLOAD, S),  # nested object kept as its raw JSON text
])

TRADE = _struct(e=S, E=L, s=S, t=L, p=S, q=S, T=L, m=B)
AGG_TRADE = _struct(e=S, E=L, s=S, a=L, p=S, q=S, f=L, l=L, T=L, m=B)
KLINE = _struct(e=S, E=L, s=S, k=_struct(t=L, T=L, s=S, i=S, f=L, L=L, o=S, c=S, h=S, l=S, v=S, n=L, x=B, q=S,
                                         V=S, Q=S))
TICKER = _struct(e=S, E=L, s=S, p=S, P=S, w=S, x=S, c=S, Q=S, b=S, B=S, a=S, A=S, o=S, h=S, l=S, v=S, q=S,
                 O=L, C=L, F=L, L=L, n=L)
LEVELS = ArrayType(ArrayType(S))
DEPTH = _struct(e=S, E=L, s=S, U=L, u=L, b=LEVELS, a=LEVELS, lastUpdateId=L, bids=LEVELS, asks=LEVELS)
BOOK_TICKER = _struct(u=L, s=S, b=S, B=S, a=S, A=S)

# keys each payload may carry (anything else counts as drift: quality penalty, still ingested)
KNOWN_KEYS: dict[str, list[str]] = {
    "trades": TRADE.fieldNames() + ["M"],
    "agg_trades": AGG_TRADE.fieldNames() + ["M"],
    "klines": KLINE.fieldNames(),
    "tickers": TICKER.fieldNames(),
    "depth": DEPTH.fieldNames(),
    "book_ticker": BOOK_TICKER.fieldNames(),
}
PAYLOAD_SCHEMA = {"trades": TRADE, "agg_trades": AGG_TRADE, "klines": KLINE, "tickers": TICKER, "depth": DEPTH,
                  "book_ticker": BOOK_TICKER}
