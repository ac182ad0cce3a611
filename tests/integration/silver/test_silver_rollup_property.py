"""Property (spec §1.6): for any trades, candles rolled up from 1m equal candles aggregated directly
from the trades, at every interval - including flat empty candles and the final flag."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silver_bronze_data import TRADE_SCHEMA, trade_row
from silver_reference import direct_candles, silver_rows

from crypto_pipeline.silver.candles import all_intervals, fill_and_finalise, minute_candles
from crypto_pipeline.silver.intervals import INTERVALS

T0 = 1704150000000  # 2024-01-01 23:00 UTC: spans 1h/4h/1d boundaries

trade = st.tuples(st.sampled_from(["AAAUSDT", "BBBUSDT"]),
                  st.integers(0, 3 * 3_600_000),  # offset in ms over three hours
                  st.integers(1, 9_999_999),  # price in 1e-4
                  st.integers(1, 99_999),  # qty in 1e-5
                  st.booleans())


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(trade, min_size=1, max_size=60))
def test_rollup_equals_direct_aggregation(spark, raw):
    from decimal import Decimal
    rows, ids = [], {}
    for sym, off, p, q, m in sorted(raw, key=lambda r: (r[0], r[1])):  # ids increase with time, per symbol
        ids[sym] = ids.get(sym, 0) + 1
        rows.append(trade_row(sym, ids[sym], Decimal(p) / 10_000, Decimal(q) / 100_000, T0 + off, m))
    df = spark.createDataFrame(rows, TRADE_SCHEMA)
    wm = {s: max(r[5] for r in rows if r[0] == s) for s in ids}
    bounds = spark.createDataFrame([(s, 0, None, None, w) for s, w in wm.items()],
                                   "symbol string, range_start_ms long, prev_close decimal(38,18), prev_source string, "
                                   "watermark_ms long")
    got_rows = fill_and_finalise(all_intervals(minute_candles(df)), bounds).collect()
    for iv in INTERVALS:
        assert silver_rows(got_rows, iv) == direct_candles(rows, iv, None), iv
    assert {r.source for r in got_rows} == {"simulator"}  # empty candles carry their close's source
