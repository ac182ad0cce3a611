"""Spec §1.4 worked example and §1.6 roll-up example, through the real incremental job on Hudi/MinIO."""
from decimal import Decimal

from silver_bronze_data import trade_row, write_trades

from crypto_pipeline.silver.ohlcv_job import update_ohlcv

T0 = 1704067200000
D = Decimal


def _candles(spark, path, interval):
    rows = spark.read.format("hudi").load(path).filter(f"interval = '{interval}'").orderBy("open_time_ms").collect()
    return {r.open_time_ms: r for r in rows}


def _ohlc(r):
    return (r.open, r.high, r.low, r.close)


def test_worked_example_1m_and_5m(spark, lake):
    bronze, silver = f"{lake}/bronze_trades", f"{lake}/silver_ohlcv"
    s = "BTCUSDT"
    trades = [trade_row(s, 101, "42000", "0.010", T0 + 1500, False), trade_row(s, 102, "42001", "0.020", T0 + 1500, True),
              trade_row(s, 103, "41990", "0.005", T0 + 30000, True), trade_row(s, 104, "42005", "0.100", T0 + 59999, False),
              trade_row(s, 105, "42010", "0.001", T0 + 60000, False), trade_row(s, 106, "42020", "0.002", T0 + 180500, True),
              # a trade in the next 5m bucket moves the watermark past T0+299999: the 5m candle is final
              trade_row(s, 107, "42030", "0.001", T0 + 300001, False)]
    write_trades(spark, bronze, trades)
    res = update_ohlcv(spark, bronze, silver)
    assert res.trades_read == 7 and not res.excluded

    m1 = _candles(spark, silver, "1m")
    assert sorted(m1) == [T0 + i * 60000 for i in range(6)]
    c = m1[T0]
    assert _ohlc(c) == (D(42000), D(42005), D(41990), D(42005))  # id 101 opens, not 102 (same ms)
    assert (c.volume, c.quote_volume, c.trade_count) == (D("0.135"), D("5670.47"), 4)
    assert (c.taker_buy_base_volume, c.taker_buy_quote_volume) == (D("0.110"), D("4620.50"))
    assert (c.first_trade_id, c.last_trade_id, c.close_time_ms, c.is_final) == (101, 104, T0 + 59999, True)
    assert _ohlc(m1[T0 + 60000]) == (D(42010),) * 4 and m1[T0 + 60000].quote_volume == D("42.01")
    for empty, price in ((T0 + 120000, D(42010)), (T0 + 240000, D(42020))):
        e = m1[empty]
        assert _ohlc(e) == (price,) * 4 and e.volume == 0 and e.quote_volume == 0 and e.trade_count == 0
        assert (e.first_trade_id, e.last_trade_id, e.taker_buy_base_volume) == (-1, -1, 0)
    assert m1[T0 + 180000].taker_buy_base_volume == 0 and m1[T0 + 180000].quote_volume == D("84.04")
    assert m1[T0 + 300000].is_final is False  # the bucket holding the watermark is open

    m5 = _candles(spark, silver, "5m")[T0]
    assert _ohlc(m5) == (D(42000), D(42020), D(41990), D(42020))
    assert (m5.volume, m5.quote_volume, m5.trade_count) == (D("0.138"), D("5796.52"), 6)
    assert (m5.taker_buy_base_volume, m5.taker_buy_quote_volume) == (D("0.111"), D("4662.51"))
    assert (m5.close_time_ms, m5.first_trade_id, m5.last_trade_id, m5.is_final) == (T0 + 299999, 101, 106, True)
    d1 = _candles(spark, silver, "1d")[T0]
    assert d1.is_final is False and d1.trade_count == 7 and d1.close_time_ms == T0 + 86_399_999


def test_rollup_skips_empty_children(spark, lake):
    """§1.6: previous close 100, first minute of the 5m bucket empty, later trades at 101-102: open and
    low are 101, not the carried 100."""
    bronze, silver = f"{lake}/bronze_trades", f"{lake}/silver_ohlcv"
    s = "ETHUSDT"
    write_trades(spark, bronze, [trade_row(s, 1, "100", "1", T0 + 240_000, False),      # 4th minute, closes at 100
                                 trade_row(s, 2, "101", "1", T0 + 300_000 + 70_000, True),  # 2nd minute of next 5m
                                 trade_row(s, 3, "102", "1", T0 + 300_000 + 200_000, True),
                                 trade_row(s, 4, "103", "1", T0 + 600_001, True)])
    update_ohlcv(spark, bronze, silver)
    m1 = _candles(spark, silver, "1m")
    assert _ohlc(m1[T0 + 300_000]) == (D(100),) * 4 and m1[T0 + 300_000].trade_count == 0
    c = _candles(spark, silver, "5m")[T0 + 300_000]
    assert _ohlc(c) == (D(101), D(102), D(101), D(102)) and c.trade_count == 2 and c.first_trade_id == 2
    assert min(_candles(spark, silver, "1m")) == T0 + 240_000  # nothing before the first trade
