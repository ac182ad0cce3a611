"""The PostgreSQL half of a sync (serving/upsert.py) on the real database as pipeline_writer: idempotent
upserts, NaN -> NULL, deletes within scopes, NOTIFY only on commit, and a sync killed mid-transaction
(SIGKILL of the writing process) leaving the old consistent rows visible to readers."""
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from serving.upsert import Deletes, sync_table, synced_commit

COLS = ["symbol", "interval", "open_time_ms", "metric", "value", "mean", "std", "zscore", "window_bars", "updated_at_ms"]


def _rows(sym: str, n: int, value: float = 1.0, t0: int = 0):
    return [(sym, "1m", t0 + i * 60_000, "volume", value + i, 0.5, 0.1, 4.0, 60, 1000) for i in range(n)]


@pytest.fixture()
def clean(writer_dsn):
    with writer_dsn.connect(autocommit=True) as conn:
        conn.execute("delete from gold_anomalies")
        conn.execute("delete from sync_state where table_name like 'it_%'")
    return writer_dsn


def _count(dsn, where="true"):
    with dsn.connect(autocommit=True) as conn:
        return conn.execute(f"select count(*) from gold_anomalies where {where}").fetchone()[0]


def test_upsert_is_idempotent_and_only_changes_rows_whose_values_changed(clean, reader_dsn):
    with clean.connect(autocommit=True) as conn:
        r1 = sync_table(conn, "gold_anomalies", COLS, _rows("AAAUSDT", 5), {"it_anom": "001"})
        first = conn.execute("select open_time_ms, synced_at from gold_anomalies order by 1").fetchall()
        r2 = sync_table(conn, "gold_anomalies", COLS, _rows("AAAUSDT", 5), {"it_anom": "002"})
        # a recomputation with the same values but a new updated_at_ms is not a change either
        r3 = sync_table(conn, "gold_anomalies", COLS,
                        [r[:-1] + (2000,) for r in _rows("AAAUSDT", 5)], {"it_anom": "003"})
        changed = _rows("AAAUSDT", 5)
        changed[2] = changed[2][:4] + (99.0,) + changed[2][5:]
        r4 = sync_table(conn, "gold_anomalies", COLS, changed, {"it_anom": "004"})
        again = conn.execute("select open_time_ms, synced_at from gold_anomalies order by 1").fetchall()
    assert (r1.staged, r1.upserted, r2.upserted, r3.upserted, r4.upserted) == (5, 5, 0, 0, 1)
    assert r1.symbols == ["AAAUSDT"]
    assert [a for a in again if a not in first] == [again[2]]  # only the changed row got a new synced_at
    with reader_dsn.connect() as conn:
        assert synced_commit(conn, "it_anom") == "004"
        assert conn.execute("select value from gold_anomalies where open_time_ms = 120000").fetchone()[0] == 99.0


def test_nan_and_infinity_become_null_and_duplicates_keep_the_newest(clean):
    rows = _rows("BBBUSDT", 2)
    rows[0] = rows[0][:4] + (float("nan"), float("inf"), float("-inf")) + rows[0][7:]
    dup = rows[1][:4] + (7.0,) + rows[1][5:-1] + (5000,)  # same key, newer updated_at_ms
    with clean.connect(autocommit=True) as conn:
        res = sync_table(conn, "gold_anomalies", COLS, [*rows, dup], {"it_nan": "1"})
        got = conn.execute("select value, mean, std, updated_at_ms from gold_anomalies order by open_time_ms").fetchall()
    assert res.upserted == 2
    assert got == [(None, None, None, 1000), (7.0, 0.5, 0.1, 5000)]


def test_deletes_only_missing_keys_inside_the_scope(clean):
    day = 86_400_000
    with clean.connect(autocommit=True) as conn:
        sync_table(conn, "gold_anomalies", COLS, _rows("CCCUSDT", 3) + _rows("CCCUSDT", 2, t0=day) + _rows("DDDUSDT", 3),
                   {"it_del": "1"})
        keep = [("CCCUSDT", "1m", 0, "volume"), ("CCCUSDT", "1m", 120_000, "volume")]  # 60_000 restated away
        res = sync_table(conn, "gold_anomalies", COLS, [], {"it_del": "2"},
                         Deletes(scopes=[{"symbol": "CCCUSDT", "interval": "1m", "open_time_ms": (0, day)}], keys=keep))
    assert res.deleted == 1
    assert _count(clean, "symbol = 'CCCUSDT'") == 4 and _count(clean, "symbol = 'DDDUSDT'") == 3
    assert _count(clean, "open_time_ms = 60000 and symbol = 'CCCUSDT'") == 0


def test_notify_is_delivered_on_commit_only(clean, reader_dsn):
    with reader_dsn.connect(autocommit=True) as listener, clean.connect(autocommit=True) as conn:
        listener.execute("listen serving_sync")
        sync_table(conn, "gold_anomalies", COLS, _rows("EEEUSDT", 3), {"it_notify": "1"})
        with pytest.raises(RuntimeError):  # a sync that fails before its commit notifies nobody
            sync_table(conn, "gold_anomalies", COLS, _rows("FFFUSDT", 3), {"it_notify": "2"},
                       before_commit=lambda: (_ for _ in ()).throw(RuntimeError("crash")))
        sync_table(conn, "gold_anomalies", COLS, _rows("EEEUSDT", 3), {"it_notify": "3"})  # no change: silent
        got = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=5)]
    assert got == [{"table": "gold_anomalies", "rows": 3, "symbols": ["EEEUSDT"]}]
    assert _count(clean, "symbol = 'FFFUSDT'") == 0


CHILD = """
import os, sys, time
from pathlib import Path
from serving.db import ServingDsn
from serving.upsert import sync_table
marker = Path(sys.argv[1])
def hold():
    marker.write_text("in transaction")
    time.sleep(600)
cols = {cols!r}
rows = [("GGGUSDT", "1m", i * 60_000, "volume", 7777.0, 0.5, 0.1, 4.0, 60, 2000) for i in range(50_000)]
with ServingDsn.from_env("pipeline_writer").connect(autocommit=True) as conn:
    sync_table(conn, "gold_anomalies", cols, rows, {{"it_kill": "new"}}, before_commit=hold)
"""


def test_sync_killed_mid_transaction_leaves_the_old_consistent_rows(clean, reader_dsn, postgres_stack, tmp_path):
    with clean.connect(autocommit=True) as conn:
        sync_table(conn, "gold_anomalies", COLS, _rows("GGGUSDT", 10), {"it_kill": "old"})
    from infra.services import serving_env
    env = {**os.environ, **serving_env(postgres_stack.settings, postgres_stack.creds, "pipeline_writer")}
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(cols=COLS), str(marker)], env=env,
                             cwd=Path(__file__).resolve().parents[3])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "sync process died before reaching its commit"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # 50,000 new and updated rows are staged and upserted, not committed: readers see the old table
        assert _count(reader_dsn, "symbol = 'GGGUSDT'") == 10
        assert _count(reader_dsn, "symbol = 'GGGUSDT' and value = 7777.0") == 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    time.sleep(0.5)  # the server notices the dropped connection and rolls back
    assert _count(reader_dsn, "symbol = 'GGGUSDT'") == 10
    with reader_dsn.connect() as conn:
        assert synced_commit(conn, "it_kill") == "old"
        assert conn.execute("select count(*) from pg_stat_activity where application_name = 'cdp-serving' "
                            "and state = 'idle in transaction'").fetchone()[0] == 0
    with clean.connect(autocommit=True) as conn:  # the rerun applies everything
        res = sync_table(conn, "gold_anomalies", COLS, _rows("GGGUSDT", 12, value=Decimal(3)), {"it_kill": "new"})
    assert res.upserted == 12 and _count(reader_dsn, "symbol = 'GGGUSDT'") == 12
