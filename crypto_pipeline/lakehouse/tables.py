"""Bronze table definitions: one place for names, paths, record keys, partitioning and column types.

Why here and not in the bronze assets: the silver layer reads these tables and must agree on paths and
columns; the contract lives in one module both import (ARCHITECTURE.md "Data contracts")."""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import (ArrayType, BooleanType, DataType, DecimalType, DoubleType, IntegerType, LongType,
                               StringType, StructField, StructType)

DEC = DecimalType(38, 18)
BRONZE_PREFIX = "bronze"

# columns every stream table carries after its own (lineage + quality + drift-proof raw payload)
LINEAGE: list[tuple[str, DataType]] = [
    ("source", StringType()), ("ingest_time_ms", LongType()), ("kafka_topic", StringType()),
    ("kafka_partition", IntegerType()), ("kafka_offset", LongType()), ("quality_score", DoubleType()),
    ("stream", StringType()), ("payload_json", StringType()), ("dt", StringType()),
]
LEVEL = ArrayType(StructType([StructField("price", DEC), StructField("quantity", DEC)]))


@dataclass(frozen=True)
class TableDef:
    """A bronze Hudi table. ``precombine`` decides which of two rows with one record key survives
    (the larger value); ``event_types`` are the envelope event types routed to it."""

    name: str
    record_key: tuple[str, ...]
    partition: tuple[str, ...]
    precombine: str
    columns: tuple[tuple[str, DataType], ...]
    event_types: tuple[str, ...] = ()
    dense_id: str | None = None   # an id dense per symbol: written by insert, duplicates found by id ranges
    rising_key: bool = False      # the last key column rises within the rest of the key (lakehouse/key_marks.py)

    def __post_init__(self) -> None:
        if self.dense_id and self.rising_key:
            raise ValueError(f"{self.name}: a dense-id table is checked by id ranges, not key marks")

    @property
    def key_groups(self) -> tuple[str, ...]:
        """The record key without its rising last column (a rising-key table's mark is kept per group)."""
        return self.record_key[:-1]

    @property
    def time_column(self) -> str | None:
        """The event time a written batch is summarised by (min/max): the trade time where there is one;
        None for the book ticker, whose payload carries no event time."""
        names = {n for n, _ in self.columns}
        return "trade_time_ms" if "trade_time_ms" in names else ("event_time_ms" if self.name != "book_ticker" else None)

    @property
    def asset_name(self) -> str:
        return f"bronze_{self.name}"

    @property
    def schema(self) -> StructType:
        return StructType([StructField(n, t) for n, t in self.columns])


def _t(name, key, precombine, own, event_types, partition=("symbol", "dt"), dense_id=None, rising_key=False) -> TableDef:
    return TableDef(name, tuple(key), tuple(partition), precombine, tuple(own) + tuple(LINEAGE), tuple(event_types),
                    dense_id, rising_key)


TRADES = _t("trades", ("symbol", "trade_id"), "trade_time_ms", [
    ("symbol", StringType()), ("trade_id", LongType()), ("price", DEC), ("quantity", DEC), ("quote_quantity", DEC),
    ("trade_time_ms", LongType()), ("event_time_ms", LongType()), ("is_buyer_maker", BooleanType())], ["trade"],
    dense_id="trade_id")

AGG_TRADES = _t("agg_trades", ("symbol", "agg_trade_id"), "trade_time_ms", [
    ("symbol", StringType()), ("agg_trade_id", LongType()), ("price", DEC), ("quantity", DEC),
    ("first_trade_id", LongType()), ("last_trade_id", LongType()), ("trade_time_ms", LongType()),
    ("event_time_ms", LongType()), ("is_buyer_maker", BooleanType())], ["aggTrade"], dense_id="agg_trade_id")

# an open kline is updated in place (same key, a newer event) until it closes: upserted, not a rising key
KLINES = _t("klines", ("symbol", "interval", "open_time_ms"), "event_time_ms", [
    ("symbol", StringType()), ("interval", StringType()), ("open_time_ms", LongType()), ("close_time_ms", LongType()),
    ("open", DEC), ("high", DEC), ("low", DEC), ("close", DEC), ("volume", DEC), ("quote_volume", DEC),
    ("taker_buy_base_volume", DEC), ("taker_buy_quote_volume", DEC), ("trade_count", LongType()),
    ("first_trade_id", LongType()), ("last_trade_id", LongType()), ("is_closed", BooleanType()),
    ("event_time_ms", LongType())], ["kline"])

# kind: 24h (e=24hrTicker), mini (24hrMiniTicker), 1h/4h/1d (rolling-window tickers)
TICKERS = _t("tickers", ("symbol", "kind", "event_time_ms"), "event_time_ms", [
    ("symbol", StringType()), ("kind", StringType()), ("event_time_ms", LongType()),
    ("price_change", DEC), ("price_change_percent", DEC), ("weighted_avg_price", DEC), ("first_price", DEC),
    ("last_price", DEC), ("last_quantity", DEC), ("best_bid_price", DEC), ("best_bid_quantity", DEC),
    ("best_ask_price", DEC), ("best_ask_quantity", DEC), ("open", DEC), ("high", DEC), ("low", DEC),
    ("volume", DEC), ("quote_volume", DEC), ("open_time_ms", LongType()), ("close_time_ms", LongType()),
    ("first_trade_id", LongType()), ("last_trade_id", LongType()), ("trade_count", LongType())],
    ["24hrTicker", "24hrMiniTicker", "1hTicker", "4hTicker", "1dTicker"], rising_key=True)

# kind: "partial<N>" (top-N snapshot, key lastUpdateId) or "diff" (diff depth, key final update id u)
DEPTH = _t("depth", ("symbol", "kind", "last_update_id"), "ingest_time_ms", [
    ("symbol", StringType()), ("kind", StringType()), ("last_update_id", LongType()),
    ("first_update_id", LongType()), ("event_time_ms", LongType()), ("bids", LEVEL), ("asks", LEVEL)],
    ["depthPartial", "depthUpdate"], rising_key=True)

BOOK_TICKER = _t("book_ticker", ("symbol", "update_id"), "ingest_time_ms", [
    ("symbol", StringType()), ("update_id", LongType()), ("best_bid_price", DEC), ("best_bid_quantity", DEC),
    ("best_ask_price", DEC), ("best_ask_quantity", DEC)], ["bookTicker"], rising_key=True)

# rows that failed validation, keyed by their Kafka coordinates (a replay re-quarantines in place)
QUARANTINE = TableDef("quarantine", ("kafka_topic", "kafka_partition", "kafka_offset"), ("dt",), "ingest_time_ms", (
    ("kafka_topic", StringType()), ("kafka_partition", IntegerType()), ("kafka_offset", LongType()),
    ("kafka_timestamp_ms", LongType()), ("message_key", StringType()), ("symbol", StringType()),
    ("event_type", StringType()), ("source", StringType()), ("ingest_time_ms", LongType()), ("reason", StringType()),
    ("raw_value", StringType()), ("dt", StringType())), rising_key=True)

STREAM_TABLES: dict[str, TableDef] = {t.name: t for t in (TRADES, AGG_TRADES, KLINES, TICKERS, DEPTH, BOOK_TICKER)}
BRONZE_TABLES: dict[str, TableDef] = {**STREAM_TABLES, QUARANTINE.name: QUARANTINE}
EVENT_TYPE_TABLE: dict[str, str] = {et: t.name for t in STREAM_TABLES.values() for et in t.event_types}


def bronze_path(bucket: str, table: str) -> str:
    """s3a:// base path of a bronze table (same as ``S3Resource.uri("bronze", table)``)."""
    if table not in BRONZE_TABLES:
        raise KeyError(f"unknown bronze table {table!r}; known: {sorted(BRONZE_TABLES)}")
    return f"s3a://{bucket}/{BRONZE_PREFIX}/{table}"
