"""./monitor.sh's serving rows: sync freshness and the live ticker, read as the read-only role."""
import dataclasses
import time

from infra.monitor import BAD, OK, serving_rows
from serving.upsert import sync_table


def test_monitor_shows_sync_and_ticker_freshness(postgres_stack, writer_dsn):
    now = int(time.time() * 1000)
    with writer_dsn.connect(autocommit=True) as conn:
        sync_table(conn, "gold_correlation", ["interval", "window_bars", "open_time_ms", "symbol_a", "symbol_b",
                                              "correlation", "updated_at_ms"],
                   [("1m", 1440, now, "MONAUSDT", "MONAUSDT", 1.0, now)], {"gold_correlation": "20260101000000000"})
        conn.execute("insert into latest_ticker (symbol, last_price, event_time_ms, source) values "
                     "('MONAUSDT', 1, %s, 'simulator') on conflict (symbol) do nothing", (now,))
    rows = serving_rows(postgres_stack.settings, postgres_stack.creds)
    by_name = {r[1]: r for r in rows}
    assert by_name["serving gold_correlation"][2] == OK and "synced 0m0" in by_name["serving gold_correlation"][3]
    assert by_name["latest_ticker"][2] == OK and "newest" in by_name["latest_ticker"][3]
    wrong = dataclasses.replace(postgres_stack.creds, serving_reader_password="wrong")
    assert serving_rows(postgres_stack.settings, wrong)[0][2] == BAD
