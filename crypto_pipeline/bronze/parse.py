"""Kafka records -> typed bronze rows or quarantine rows (Spark transformations only, no I/O).

Validation is expressed as ordered (condition, reason) pairs per table; the first failing reason wins
and the row goes to bronze/quarantine with its raw value, so bad input never stops a run."""
from __future__ import annotations

import re
from functools import reduce
from typing import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crypto_pipeline.bronze import schemas
from crypto_pipeline.lakehouse.tables import DEC, EVENT_TYPE_TABLE, QUARANTINE, TableDef
from shared.decimals import JAVA_PATTERN
from shared.envelope import SCHEMA_VERSION, Source

LATE_MS = 10_000
SOURCES = [s.value for s in Source]
P8, Q8 = "decimal(18,8)", "decimal(19,8)"  # p*q exact in decimal(38,16) when both have <= 8 decimals


def envelopes(kafka: DataFrame) -> DataFrame:
    """Kafka batch rows -> lineage columns + envelope fields + ``env_reason`` (null when the envelope is valid)."""
    raw = kafka.select(
        F.col("topic").alias("kafka_topic"), F.col("partition").cast("int").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"), (F.unix_millis(F.col("timestamp"))).alias("kafka_timestamp_ms"),
        F.col("key").cast("string").alias("message_key"), F.col("value").cast("string").alias("raw_value"))
    e = F.from_json("raw_value", schemas.ENVELOPE)
    df = raw.withColumn("_e", e).select("*", *[F.col("_e")[f].alias(f) for f in schemas.ENVELOPE.fieldNames()]).drop("_e")
    df = df.withColumnRenamed("payload", "payload_json").withColumn("symbol", F.upper("symbol"))
    reason = (F.when(F.col("schema_version").isNull() & F.col("payload_json").isNull(), F.lit("unparsable_envelope"))
              .when(F.col("schema_version") != SCHEMA_VERSION, F.concat(F.lit("unsupported_schema_version:"), F.col("schema_version").cast("string")))
              .when(F.col("payload_json").isNull(), F.lit("missing_field:payload"))
              .when(F.col("symbol").isNull(), F.lit("missing_field:symbol"))
              .when(F.col("event_type").isNull(), F.lit("missing_field:event_type"))
              .when(F.col("ingest_time_ms").isNull(), F.lit("missing_field:ingest_time_ms"))
              .when(~F.col("source").isin(*SOURCES) | F.col("source").isNull(), F.lit("unknown_source"))
              .when(~F.col("event_type").isin(*EVENT_TYPE_TABLE), F.concat(F.lit("unknown_event_type:"), F.col("event_type"))))
    return df.withColumn("env_reason", reason)


def offset_filter(frm: dict[str, dict[int, int]], start: dict[str, dict[int, int]]) -> Column | None:
    """Rows a table still needs: drop the offsets it already committed (only partitions where it is ahead)."""
    ahead = [(t, p, o) for t, ps in frm.items() for p, o in ps.items() if o > start.get(t, {}).get(p, 0)]
    if not ahead:
        return None
    done = [(F.col("kafka_topic") == t) & (F.col("kafka_partition") == p) & (F.col("kafka_offset") < o) for t, p, o in ahead]
    return ~reduce(lambda a, b: a | b, done)


def _dec(c: Column) -> Column:
    return c.cast(DEC)


# the calendar's years 1..9999 in epoch ms: beyond them Spark's timestamp_millis overflows a long and *throws*,
# failing the whole batch (a forged record would stop the writer), so such a time makes no date at all
MIN_TIME_MS, MAX_TIME_MS = -62_135_596_800_000, 253_402_300_799_999


def _dt(ms: Column) -> Column:
    """The UTC-session day of ``ms``; null when ``ms`` is null or outside :data:`MIN_TIME_MS`..:data:`MAX_TIME_MS`."""
    return F.when(ms.between(MIN_TIME_MS, MAX_TIME_MS), F.date_format(F.timestamp_millis(ms), "yyyy-MM-dd"))


def _first(pairs: list[tuple[Column, str]]) -> Column:
    out = None
    for cond, reason in pairs:
        out = F.when(cond, F.lit(reason)) if out is None else out.when(cond, F.lit(reason))
    return out if out is not None else F.lit(None).cast("string")


def _missing(p, *names: str) -> list[tuple[Column, str]]:
    return [(p[n].isNull(), f"missing_field:{n}") for n in names]


def _not_decimal(c: Column) -> Column:
    """Not in the one decimal grammar (shared/decimals.py) the streaming service applies too; a string in it
    always fits DEC, so the cast never turns it into null."""
    return ~c.rlike(JAVA_PATTERN)


def _bad_dec(p, *names: str) -> list[tuple[Column, str]]:
    return [(p[n].isNotNull() & _not_decimal(p[n]), f"bad_decimal:{n}") for n in names]


def _negative_ids(p, *names: str) -> list[tuple[Column, str]]:
    return [(p[n] < 0, f"negative_id:{n}") for n in names]


def _mismatch(p) -> list[tuple[Column, str]]:
    return [(p["s"].isNotNull() & (F.upper(p["s"]) != F.col("symbol")), "symbol_mismatch")]


def _typed(table: str, p) -> tuple[list[Column], list[tuple[Column, str]], Column, Column]:
    """(columns, validation rules, dt source ms, quality penalty) of one stream table; ``p`` = parsed payload."""
    if table == "trades":
        price, qty = _dec(p["p"]), _dec(p["q"])
        exact = (p["p"].cast(P8) == price) & (p["q"].cast(Q8) == qty)
        quote = F.when(exact, (p["p"].cast(P8) * p["q"].cast(Q8)).cast(DEC)).otherwise((price * qty).cast(DEC))
        cols = [p["t"].alias("trade_id"), price.alias("price"), qty.alias("quantity"), quote.alias("quote_quantity"),
                p["T"].alias("trade_time_ms"), F.coalesce(p["E"], F.col("event_time_ms")).alias("event_time_ms"),
                p["m"].alias("is_buyer_maker")]
        rules = (_missing(p, "t", "p", "q", "T") + _bad_dec(p, "p", "q") + _mismatch(p) + _negative_ids(p, "t")
                 + [(price <= 0, "non_positive_price"), (qty <= 0, "non_positive_quantity"), (quote.isNull(), "quote_overflow")])
        return cols, rules, p["T"], F.when(~exact, F.lit(0.1)).otherwise(F.lit(0.0))
    if table == "agg_trades":
        price, qty = _dec(p["p"]), _dec(p["q"])
        cols = [p["a"].alias("agg_trade_id"), price.alias("price"), qty.alias("quantity"), p["f"].alias("first_trade_id"),
                p["l"].alias("last_trade_id"), p["T"].alias("trade_time_ms"),
                F.coalesce(p["E"], F.col("event_time_ms")).alias("event_time_ms"), p["m"].alias("is_buyer_maker")]
        rules = (_missing(p, "a", "p", "q", "f", "l", "T") + _bad_dec(p, "p", "q") + _mismatch(p)
                 + _negative_ids(p, "a", "f", "l") + [(price <= 0, "non_positive_price"), (qty <= 0, "non_positive_quantity"), (p["f"] > p["l"], "impossible:first_trade_id>last_trade_id")])
        return cols, rules, p["T"], F.lit(0.0)
    if table == "klines":
        k = p["k"]
        o, h, lo, c = _dec(k["o"]), _dec(k["h"]), _dec(k["l"]), _dec(k["c"])
        cols = [k["i"].alias("interval"), k["t"].alias("open_time_ms"), k["T"].alias("close_time_ms"), o.alias("open"),
                h.alias("high"), lo.alias("low"), c.alias("close"), _dec(k["v"]).alias("volume"),
                _dec(k["q"]).alias("quote_volume"), _dec(k["V"]).alias("taker_buy_base_volume"),
                _dec(k["Q"]).alias("taker_buy_quote_volume"), k["n"].alias("trade_count"), k["f"].alias("first_trade_id"),
                k["L"].alias("last_trade_id"), k["x"].alias("is_closed"),
                F.coalesce(p["E"], F.col("event_time_ms")).alias("event_time_ms")]
        rules = ([(k.isNull(), "missing_field:k")] + [(k[n].isNull(), f"missing_field:k.{n}") for n in ("t", "T", "i", "o", "h", "l", "c", "v", "n", "x")]
                 + [(k[n].isNotNull() & _not_decimal(k[n]), f"bad_decimal:k.{n}") for n in ("o", "h", "l", "c", "v", "q", "V", "Q")]
                 + [(F.col("event_time_ms").isNull() & p["E"].isNull(), "missing_field:E"), *_mismatch(p),
                    (F.least(o, h, lo, c) <= 0, "non_positive_price"), (_dec(k["v"]) < 0, "negative_volume"),
                    (h < lo, "impossible:high<low"), ((o > h) | (o < lo) | (c > h) | (c < lo), "impossible:open/close outside [low,high]"),
                    (k["T"] < k["t"], "impossible:close_time<open_time"), (k["t"] < 0, "negative_id:k.t")])
        return cols, rules, k["t"], F.lit(0.0)
    if table == "tickers":
        kind = (F.when(p["e"] == "24hrTicker", "24h").when(p["e"] == "24hrMiniTicker", "mini")
                .otherwise(F.regexp_extract(p["e"], r"^(\w+?)Ticker$", 1)))
        names = [("p", "price_change"), ("P", "price_change_percent"), ("w", "weighted_avg_price"), ("x", "first_price"),
                 ("c", "last_price"), ("Q", "last_quantity"), ("b", "best_bid_price"), ("B", "best_bid_quantity"),
                 ("a", "best_ask_price"), ("A", "best_ask_quantity"), ("o", "open"), ("h", "high"), ("l", "low"),
                 ("v", "volume"), ("q", "quote_volume")]
        cols = [kind.alias("kind"), F.coalesce(p["E"], F.col("event_time_ms")).alias("event_time_ms"),
                *[_dec(p[k]).alias(n) for k, n in names], p["O"].alias("open_time_ms"), p["C"].alias("close_time_ms"),
                p["F"].alias("first_trade_id"), p["L"].alias("last_trade_id"), p["n"].alias("trade_count")]
        rules = (_missing(p, "E", "c", "o", "h", "l", "v") + _bad_dec(p, *[k for k, _ in names]) + _mismatch(p)
                 + [(F.least(_dec(p["c"]), _dec(p["o"])) <= 0, "non_positive_price"), (_dec(p["h"]) < _dec(p["l"]), "impossible:high<low"),
                    (_dec(p["v"]) < 0, "negative_volume")])
        return cols, rules, F.coalesce(p["E"], F.col("event_time_ms")), F.lit(0.0)
    if table == "depth":
        diff = F.col("event_type") == "depthUpdate"
        lv = lambda a: F.transform(a, lambda x: F.struct(_dec(x[0]).alias("price"), _dec(x[1]).alias("quantity")))  # noqa: E731
        bids, asks = F.when(diff, lv(p["b"])).otherwise(lv(p["bids"])), F.when(diff, lv(p["a"])).otherwise(lv(p["asks"]))
        last = F.when(diff, p["u"]).otherwise(p["lastUpdateId"])
        kind = F.when(diff, F.lit("diff")).otherwise(F.concat(F.lit("partial"), F.regexp_extract("stream", r"@depth(\d+)", 1)))
        cols = [kind.alias("kind"), last.alias("last_update_id"), F.when(diff, p["U"]).alias("first_update_id"),
                p["E"].alias("event_time_ms"), bids.alias("bids"), asks.alias("asks")]
        raw_bids, raw_asks = F.when(diff, p["b"]).otherwise(p["bids"]), F.when(diff, p["a"]).otherwise(p["asks"])
        # a level is exactly [price, quantity], both in the decimal grammar (null-safe: a short level is bad too)
        not_level = lambda a: F.exists(a, lambda x: F.coalesce((F.size(x) != 2) | _not_decimal(x[0]) | _not_decimal(x[1]), F.lit(True)))  # noqa: E731
        bad_level = lambda a: F.exists(a, lambda x: x["price"].isNull() | x["quantity"].isNull() | (x["price"] <= 0) | (x["quantity"] < 0))  # noqa: E731
        rules = [(last.isNull(), "missing_field:update_id"), (diff & p["U"].isNull(), "missing_field:U"),
                 *_negative_ids(p, "U", "u", "lastUpdateId"), (bids.isNull() | asks.isNull(), "missing_field:levels"),
                 (not_level(raw_bids) | not_level(raw_asks), "bad_decimal:level"),
                 (bad_level(bids) | bad_level(asks), "bad_level"), (diff & (p["U"] > p["u"]), "impossible:U>u"), *_mismatch(p)]
        return cols, rules, F.coalesce(p["E"], F.col("ingest_time_ms")), F.lit(0.0)
    if table == "book_ticker":
        names = [("b", "best_bid_price"), ("B", "best_bid_quantity"), ("a", "best_ask_price"), ("A", "best_ask_quantity")]
        cols = [p["u"].alias("update_id"), *[_dec(p[k]).alias(n) for k, n in names]]
        rules = (_missing(p, "u", "b", "B", "a", "A") + _bad_dec(p, "b", "B", "a", "A") + _mismatch(p) + _negative_ids(p, "u")
                 + [(F.least(*[_dec(p[k]) for k, _ in names]) < 0, "negative_price_or_quantity")])
        return cols, rules, F.col("ingest_time_ms"), F.lit(0.0)
    raise KeyError(table)


def stream_rows(env_df: DataFrame, table: TableDef) -> DataFrame:
    """Rows of one stream table with a ``_reason`` column (null = valid) and the table's columns."""
    df = env_df.where(F.col("env_reason").isNull() & F.col("event_type").isin(*table.event_types))
    p = F.col("_p")
    df = df.withColumn("_p", F.from_json("payload_json", schemas.PAYLOAD_SCHEMA[table.name]))
    cols, rules, dt_ms, penalty = _typed(table.name, p)
    known = F.array(*[F.lit(k) for k in schemas.KNOWN_KEYS[table.name]])
    drift = F.coalesce(F.size(F.array_except(F.json_object_keys("payload_json"), known)) > 0, F.lit(False))
    lag = F.col("ingest_time_ms") - F.col("event_time_ms")
    quality = (F.lit(1.0) - penalty - F.when(drift, 0.1).otherwise(0.0)
               - F.when(F.col("event_time_ms").isNull() & F.lit(table.name not in ("depth", "book_ticker")), 0.3).otherwise(0.0)
               - F.when(lag > LATE_MS, 0.2).otherwise(0.0) - F.when(lag < -1000, 0.2).otherwise(0.0))
    names = _names(cols)
    out = df.select(*[c for c in df.columns if c not in names], *cols).withColumn("dt", _dt(dt_ms))
    out = out.withColumn("_reason", F.when(F.col("_p").isNull(), F.lit("unparsable_payload")).otherwise(_first(rules)))
    no_day = F.when(dt_ms.isNull(), F.lit("missing_field:time")).otherwise(F.lit("out_of_range:time"))
    out = out.withColumn("_reason", F.when(F.col("_reason").isNull() & F.col("dt").isNull(), no_day).otherwise(F.col("_reason")))
    out = out.withColumn("quality_score", F.greatest(F.lit(0.0), quality).cast("double"))
    return out.select(*table.schema.fieldNames(), "_reason", "kafka_timestamp_ms", "message_key", "event_type", "raw_value")


def _names(cols: list[Column]) -> set[str]:
    return {c._jc.expr().name() for c in cols}  # every typed column is an Alias


def valid(rows: DataFrame, table: TableDef) -> DataFrame:
    return rows.where(F.col("_reason").isNull()).select(*[F.col(f.name).cast(f.dataType) for f in table.schema.fields])


def quarantine_shape(df: DataFrame, reason: Column) -> DataFrame:
    """Rows (envelope-level or typed) in the quarantine table's shape, with ``reason``."""
    # the broker's timestamp when the envelope has none (every Kafka record has one). Not the current time:
    # a per-query constant is compiled into the generated code, so every cycle would generate, load and
    # JIT-compile its own copy of the quarantine's code in the long-running stream session
    return (df.withColumn("reason", reason)
            .withColumn("ingest_time_ms", F.coalesce(F.col("ingest_time_ms"), F.col("kafka_timestamp_ms")))
            .withColumn("dt", _dt(F.col("kafka_timestamp_ms")))
            .select(*[F.col(f.name).cast(f.dataType) for f in QUARANTINE.schema.fields]))


def quarantine_rows(env_df: DataFrame, per_table: list[tuple[TableDef, DataFrame]]) -> DataFrame:
    """Envelope-level failures plus every table's invalid rows, in the quarantine table's shape."""
    parts = [quarantine_shape(env_df.where(F.col("env_reason").isNotNull()), F.col("env_reason"))]
    parts += [quarantine_shape(df.where(F.col("_reason").isNotNull()), F.concat(F.lit(f"{t.name}:"), F.col("_reason")))
              for t, df in per_table]
    return reduce(DataFrame.unionByName, parts)


# Kafka message key = stream name (ARCHITECTURE.md); its suffix says which table a record belongs to.
STREAM_KEY_TABLE: tuple[tuple[str, str], ...] = (
    (r"@trade$", "trades"), (r"@aggTrade$", "agg_trades"), (r"@kline_", "klines"), (r"@bookTicker$", "book_ticker"),
    (r"@(ticker|miniTicker)", "tickers"), (r"@depth", "depth"))


def _other_streams(tables: set[str]) -> str | None:
    other = [pattern for pattern, table in STREAM_KEY_TABLE if table not in tables]
    return "|".join(f"(?:{p})" for p in other) if other else None


def key_prefilter(tables: set[str]) -> Column | None:
    """A cheap condition on the raw Kafka key that drops records of streams whose tables are not being
    written (the fast loop parses trades only, not the order book). Records with no key or a key of no
    known stream are kept, so nothing of a written table is skipped unparsed. None = keep everything."""
    other = _other_streams(tables)
    return None if other is None else F.col("key").isNull() | ~F.col("key").cast("string").rlike(other)


def key_keep(tables: set[str]) -> Callable[[bytes | None], bool] | None:
    """:func:`key_prefilter` for records still in the driver (the same patterns, applied before Spark)."""
    other = _other_streams(tables)
    if other is None:
        return None
    match = re.compile(other.encode()).search
    return lambda key: key is None or match(key) is None
