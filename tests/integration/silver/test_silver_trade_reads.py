"""Silver reads the trades of new bronze commits in the driver (crypto_pipeline/lakehouse/files.py) instead of
Hudi's incremental query: the same rows with the same exact decimals, and Hudi's query where the driver read
must not decide (the first run, more rows than the driver takes)."""
import uuid

import pytest

from silver_bronze_data import simulate, write_trades

from crypto_pipeline.lakehouse.files import LakeFiles
from crypto_pipeline.silver import hudi, ohlcv_job
from crypto_pipeline.silver.ohlcv_job import TRADE_COLS, _new_trades

T0 = 1704153000000


def _rows(df) -> list[tuple]:
    return sorted(tuple(r) for r in df.select(*TRADE_COLS).collect())


@pytest.fixture(scope="module")
def bronze(spark, minio_stack):
    path = f"s3a://{minio_stack.settings.minio.bucket}/it-silver-reads/{uuid.uuid4().hex[:10]}/bronze/trades"
    trades, _ = simulate({"BTCUSDT": 3.0, "ETHUSDT": 1.5}, T0, 6 * 60, seed=5)
    commits = []
    for lo, hi in ((0, 2), (2, 4), (4, 6)):
        write_trades(spark, path, [t for t in trades if T0 + lo * 60_000 <= t[5] < T0 + hi * 60_000])
        commits.append(hudi.latest_completion_time(spark, path))
    return path, commits


def test_driver_read_equals_hudi_incremental_query(spark, bronze):
    path, (c1, _, c3) = bronze
    assert LakeFiles(spark).increment_table(path, c1, c3, list(TRADE_COLS)) is not None  # the driver path ran
    got, want = _rows(_new_trades(spark, path, c1, c3)), _rows(hudi.read_incremental(spark, path, c1, c3))
    assert got == want and len(got) > 100
    assert str(got[0][2]) == str(want[0][2])  # the price's exact decimal, not a float's rounding


def test_hudi_decides_the_first_read_and_large_ones(spark, bronze, monkeypatch):
    path, (c1, c2, c3) = bronze
    assert _rows(_new_trades(spark, path, None, c3)) == _rows(hudi.read_incremental(spark, path, None, c3))
    assert LakeFiles(spark).increment_table(path, c1, c3, list(TRADE_COLS), max_rows=10) is None
    monkeypatch.setattr(ohlcv_job, "DRIVER_READ_MAX_ROWS", 10)
    assert _rows(_new_trades(spark, path, c1, c2)) == _rows(hudi.read_incremental(spark, path, c1, c2))
