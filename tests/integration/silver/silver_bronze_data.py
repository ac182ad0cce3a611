"""Test data for silver: bronze trade/kline Hudi tables with the bronze contract's schema, filled from the
exchange simulator's market (its klines are ground truth computed from its own trades) or from explicit
trade lists."""
from __future__ import annotations

from decimal import Decimal
from datetime import datetime, timezone

from binance_sim.config import SimConfig, SymbolSpec
from binance_sim.market import Market

E8 = Decimal(100_000_000)

TRADE_COLS = ["symbol", "trade_id", "price", "quantity", "quote_quantity", "trade_time_ms", "event_time_ms",
              "is_buyer_maker", "source", "ingest_time_ms", "kafka_topic", "kafka_partition", "kafka_offset",
              "quality_score", "dt"]
TRADE_SCHEMA = ("symbol string, trade_id bigint, price decimal(38,18), quantity decimal(38,18), "
                "quote_quantity decimal(38,18), trade_time_ms bigint, event_time_ms bigint, is_buyer_maker boolean, "
                "source string, ingest_time_ms bigint, kafka_topic string, kafka_partition int, kafka_offset bigint, "
                "quality_score double, dt string")
KLINE_SCHEMA = ("symbol string, interval string, open_time_ms bigint, close_time_ms bigint, open decimal(38,18), "
                "high decimal(38,18), low decimal(38,18), close decimal(38,18), volume decimal(38,18), "
                "quote_volume decimal(38,18), taker_buy_base_volume decimal(38,18), "
                "taker_buy_quote_volume decimal(38,18), trade_count bigint, first_trade_id bigint, "
                "last_trade_id bigint, is_closed boolean, event_time_ms bigint, source string, ingest_time_ms bigint, "
                "kafka_topic string, kafka_partition int, kafka_offset bigint, quality_score double, dt string")


def dt_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def trade_row(symbol: str, tid: int, price, qty, t_ms: int, m: bool, offset: int = 0) -> tuple:
    p, q = Decimal(str(price)), Decimal(str(qty))
    return (symbol, tid, p, q, p * q, t_ms, t_ms + 5, m, "simulator", t_ms + 20, f"crypto_raw_{symbol.lower()}", 0,
            offset or tid, 1.0, dt_of(t_ms))


def write_hudi(spark, rows: list[tuple], schema: str, path: str, table: str, key: str, precombine: str) -> None:
    opts = {"hoodie.table.name": table, "hoodie.datasource.write.recordkey.field": key,
            "hoodie.datasource.write.partitionpath.field": "symbol,dt",
            "hoodie.datasource.write.precombine.field": precombine,
            "hoodie.datasource.write.keygenerator.class": "org.apache.hudi.keygen.ComplexKeyGenerator",
            "hoodie.datasource.write.operation": "upsert", "hoodie.datasource.write.table.type": "COPY_ON_WRITE",
            "hoodie.upsert.shuffle.parallelism": "2", "hoodie.insert.shuffle.parallelism": "2"}
    spark.createDataFrame(rows, schema).write.format("hudi").options(**opts).mode("append").save(path)


def write_trades(spark, path: str, rows: list[tuple]) -> None:
    write_hudi(spark, rows, TRADE_SCHEMA, path, "bronze_trades", "symbol,trade_id", "trade_time_ms")


def write_klines(spark, path: str, rows: list[tuple]) -> None:
    write_hudi(spark, rows, KLINE_SCHEMA, path, "bronze_klines", "symbol,interval,open_time_ms", "event_time_ms")


class _Recorder:
    def __init__(self):
        self.trades: list[tuple] = []
        self.klines: list[tuple] = []

    def on_trades(self, m, trades, aggs, now):
        s = m.spec
        for tid, ticks, lots, t_ms, maker in trades:
            p = Decimal(ticks * s.tick_units) / E8
            q = Decimal(lots * s.step_units) / E8
            self.trades.append(trade_row(m.symbol, tid, p, q, t_ms, maker))

    def on_kline(self, m, interval, tz, t, T, agg, closed, now):
        if interval != "1m" or tz != 0 or not closed:
            return
        s = m.spec
        px = lambda v: Decimal(v * s.tick_units) / E8  # noqa: E731
        lots = lambda v: Decimal(v * s.step_units) / E8  # noqa: E731
        o, h, lo, c, v, qv, tv, tq, n, f, last = agg
        self.klines.append((m.symbol, "1m", t, T, px(o), px(h), px(lo), px(c), lots(v), Decimal(qv) / E8, lots(tv),
                            Decimal(tq) / E8, n, f, last, True, now, "simulator", now, "k", 0, 0, 1.0, dt_of(t)))

    def __getattr__(self, name):
        return lambda *a, **k: None


def simulate(symbols: dict[str, float], start_ms: int, seconds: int, seed: int = 7) -> tuple[list, list]:
    """(trades, closed 1m klines) of the simulator's market over ``seconds`` from ``start_ms``."""
    cfg = SimConfig(symbols=[SymbolSpec.default(s, rate=r) for s, r in symbols.items()], seed=seed,
                    history_s=60, book_levels=40)
    rec = _Recorder()
    market = Market(cfg, start_ms, rec)
    for t in range(start_ms + 1000, start_ms + seconds * 1000 + 1, 1000):
        market.advance(t)
    return rec.trades, rec.klines
