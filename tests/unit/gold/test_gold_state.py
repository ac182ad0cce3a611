"""The gold run's state kept in its checkpoint (covered bars, the portfolio's running prior), the partition
pruning of its driver-side reads and their decimal conversion - pure functions, no Spark (files mocked)."""
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from crypto_pipeline.gold import lake, state
from crypto_pipeline.lakehouse.files import _floats
from crypto_pipeline.gold.portfolio import Prior

MIN = 60_000
T = 1704067200000  # 2024-01-01 00:00 UTC


class NoFiles:
    def snapshot(self, *a, **k):
        raise AssertionError("the prior should come from the checkpoint, not the stored rows")


class StoredRows:
    def __init__(self, rows: pd.DataFrame):
        self.rows, self.calls = rows, []

    def snapshot(self, path, fields, keep, columns):
        self.calls.append(keep)
        return self.rows[columns]


def test_covered_advances_per_series_and_keeps_the_others():
    ckpt = state.with_covered({"silver_ohlcv": "c2"}, {"BTCUSDT|1m": T + 5 * MIN, "ETHUSDT|1m": T + 9 * MIN},
                             {("BTCUSDT", "1m"): T + 7 * MIN, ("ETHUSDT", "1m"): T + 3 * MIN, ("SOLUSDT", "1m"): T})
    assert ckpt == {"silver_ohlcv": "c2", "covered": {"BTCUSDT|1m": T + 7 * MIN, "ETHUSDT|1m": T + 9 * MIN,
                                                      "SOLUSDT|1m": T}}
    assert state.with_covered({}, None, {("1m",): T})["covered"] == {"1m": T}  # unknown state: this run's only
    assert state.covered_of({"covered": {"a|1m": 1}}, full=True) is None
    assert state.covered_of({}, full=False) is None  # a checkpoint from before the state was kept


def test_portfolio_prior_from_the_checkpoint_after_the_last_bar():
    running = {"core|1m": [T, 1000.0, 1234.5, T + 9 * MIN]}
    got = state.portfolio_priors(NoFiles(), "p", {("core", "1m"): T + 10 * MIN}, running)
    assert got == {("core", "1m"): Prior(T, 1000.0, 1234.5)}


def test_portfolio_prior_of_a_restatement_from_the_stored_rows():
    running = {"core|1m": [T, 1000.0, 1234.5, T + 9 * MIN]}
    rows = pd.DataFrame({"portfolio": "core", "interval": "1m", "open_time_ms": T + MIN * np.arange(10),
                         "value": [1000.0, 1100, 1300, 900, 1000, 1234.5, 1000, 1000, 1000, 1000]})
    files = StoredRows(rows)
    got = state.portfolio_priors(files, "p", {("core", "1m"): T + 3 * MIN}, running)  # bar 3 restated
    assert got == {("core", "1m"): Prior(T, 1000.0, 1300.0)}  # the peak before bar 3, not the state's
    keep = files.calls[0]  # only core's 1m partitions up to the restated bar's day
    assert keep({"portfolio": "core"}) and not keep({"portfolio": "other"})
    assert keep({"portfolio": "core", "interval": "1m", "period": "2024-01-01"})
    assert not keep({"portfolio": "core", "interval": "1m", "period": "2024-01-02"})
    assert not keep({"portfolio": "core", "interval": "1h"})


def test_next_priors_carry_first_value_and_peak():
    rows = pd.DataFrame({"portfolio": "core", "interval": "1m", "open_time_ms": [T + 10 * MIN, T + 11 * MIN],
                         "value": [1200.0, 1250.0]})
    prior = Prior(T, 1000.0, 1234.5)
    out = state.next_priors({"x|1h": [1, 2.0, 3.0, 4]}, rows, {("core", "1m"): T + 10 * MIN}, {("core", "1m"): prior})
    assert out == {"x|1h": [1, 2.0, 3.0, 4], "core|1m": [T, 1000.0, 1250.0, T + 11 * MIN]}
    first = state.next_priors({}, rows, {("core", "1m"): T + 10 * MIN}, {})  # built from its first bar
    assert first == {"core|1m": [T + 10 * MIN, 1200.0, 1250.0, T + 11 * MIN]}


def test_partition_pruning_by_interval_and_period():
    keep = lake._since({"1m": T + 86_400_000 + 5 * MIN, "1d": lake.ORIGIN, "1h": T + 40 * 86_400_000})
    assert keep({"symbol": "BTCUSDT"}) and not keep({"symbol": "BTCUSDT", "interval": "5m"})
    assert not keep({"interval": "1m", "period": "2024-01-01"}) and keep({"interval": "1m", "period": "2024-01-02"})
    assert keep({"interval": "1d", "period": "2019-06"})  # from the origin: every period
    assert not keep({"interval": "1h", "period": "2024-01"}) and keep({"interval": "1h", "period": "2024-02"})
    assert lake.period_from("15m", T) == "2024-01-01" and lake.period_from("4h", T) == "2024-01"


def test_tail_drops_rows_before_each_interval_start():
    df = pd.DataFrame({"interval": ["1m", "1m", "1h"], "open_time_ms": [T, T + MIN, T]})
    assert lake._tail(df, {"1m": T + MIN, "1h": T}).open_time_ms.tolist() == [T + MIN, T]


@pytest.mark.parametrize("text", ["42000.500000000000000001", "0.1", "0.004499999999999999", "2300.123456789012345678",
                                  "99999999999999999999.999999999999999999", "0.000000000000000001"])
def test_decimals_become_the_correctly_rounded_double(text):
    col = pa.array([Decimal(text)], type=pa.decimal128(38, 18))
    out = _floats(pa.table({"close": col, "n": pa.array([1])}))
    assert out.schema.field("close").type == pa.float64() and out.schema.field("n").type == pa.int64()
    assert out.column("close")[0].as_py() == float(Decimal(text))  # Python: correctly rounded, as Java's
