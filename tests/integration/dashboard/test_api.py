"""The read API against real PostgreSQL (seeded by the pipeline_writer role) through the running dashboard
service: data as stored, paging without loss or duplicates, 422s that name parameter and value, the
read-only role, the NOTIFY-driven page cache and the SSE fan-out."""
from __future__ import annotations

import json
import time

import httpx
import psycopg
import pytest
from psycopg import errors

from conftest import dsn
from serving.db import READER_ROLE


def get(base: str, path: str, **params) -> httpx.Response:
    return httpx.get(base + path, params=params, timeout=10)


def test_candles_are_the_serving_rows_oldest_first(dashboard, writer, seeded):
    page = get(dashboard, "/api/candles", symbol="BTCUSDT", interval="1m", limit=1440).json()
    rows = writer.execute("""select open_time_ms, close::float8, sma_20, rsi_14, source from candles
                             where symbol = 'BTCUSDT' and interval = '1m' order by open_time_ms""").fetchall()
    got = [(c["open_time_ms"], c["close"], c["sma_20"], c["rsi_14"], c["source"]) for c in page["candles"]]
    assert got == rows and len(got) == 1440
    assert page["candles"][-1]["open_time_ms"] == seeded.last_open_ms["BTCUSDT"]
    assert page["simulated"] is False and page["prev_to"] is None
    assert get(dashboard, "/api/candles", symbol="ETHUSDT", interval="1m", limit=5).json()["simulated"] is True


def test_paging_forward_and_back_loses_and_doubles_nothing(dashboard, writer):
    want = [r[0] for r in writer.execute(
        "select open_time_ms from candles where symbol = 'ETHUSDT' and interval = '1m' order by 1")]
    back, to = [], None
    while True:
        page = get(dashboard, "/api/candles", symbol="ETHUSDT", interval="1m", limit=500,
                   **({"to": to} if to is not None else {})).json()
        back = [c["open_time_ms"] for c in page["candles"]] + back
        if page["prev_to"] is None:
            break
        to = page["prev_to"]
    fwd, frm = [], 0
    while frm is not None:
        page = get(dashboard, "/api/candles", symbol="ETHUSDT", interval="1m", limit=333, **{"from": frm}).json()
        fwd += [c["open_time_ms"] for c in page["candles"]]
        frm = page["next_from"]
    assert back == want and fwd == want


@pytest.mark.parametrize("path, params, name, value", [
    ("/api/candles", {"symbol": "BTCUSDT", "interval": "7m"}, "interval", "'7m'"),
    ("/api/candles", {"symbol": "btc;drop", "interval": "1m"}, "symbol", "'btc;drop'"),
    ("/api/candles", {"interval": "1m"}, "symbol", "None"),
    ("/api/candles", {"symbol": "BTCUSDT", "interval": "1m", "limit": "0"}, "limit", "'0'"),
    ("/api/candles", {"symbol": "BTCUSDT", "interval": "1m", "limit": "abc"}, "limit", "'abc'"),
    ("/api/candles", {"symbol": "BTCUSDT", "interval": "1m", "from": "-5"}, "from", "'-5'"),
    ("/api/candles", {"symbol": "BTCUSDT", "interval": "1m", "from": "20", "to": "10"}, "from", "20"),
    ("/api/risk", {"interval": "1d", "window_bars": "1"}, "window_bars", "'1'"),
    ("/api/risk/BTC-USDT", {"interval": "1d"}, "symbol", "'BTC-USDT'"),
    ("/api/portfolios/demo", {"interval": "1y"}, "interval", "'1y'"),
    ("/api/signals", {"limit": "100000"}, "limit", "'100000'"),
])
def test_bad_parameters_get_422_naming_parameter_and_value(dashboard, path, params, name, value):
    r = get(dashboard, path, **params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert f"'{name}' = {value}" in body["message"], body["message"]
    assert any(e["loc"][-1] == name for e in body["detail"])


def test_unknown_portfolio_is_a_404_that_names_it(dashboard):
    r = get(dashboard, "/api/portfolios/nope", interval="1d")
    assert r.status_code == 404 and "'nope'" in r.json()["detail"]


def test_gold_endpoints(dashboard, seeded):
    risk = get(dashboard, "/api/risk", interval="1d").json()
    assert [r["symbol"] for r in risk] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"] and risk[0]["window_bars"] == 30
    assert get(dashboard, "/api/risk", interval="1d", window_bars=90).json() == []
    assert len(get(dashboard, "/api/risk/ETHUSDT", interval="1d").json()) == 1
    corr = get(dashboard, "/api/correlation", interval="1d").json()
    m = corr["matrix"]
    assert corr["symbols"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert all(m[i][i] == 1.0 and m[i][j] == m[j][i] for i in range(3) for j in range(3))
    pf = get(dashboard, "/api/portfolios/demo", interval="1d").json()
    times = [p["open_time_ms"] for p in pf["series"]]
    assert times == sorted(times) and len(times) == 31 and pf["latest"] == pf["series"][-1]
    assert {p["symbol"] for p in pf["positions"]} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert get(dashboard, "/api/portfolios").json() == [{"portfolio": "demo", "intervals": ["1d"]}]
    sig = get(dashboard, "/api/signals", limit=2).json()
    assert len(sig) == 2 and sig[0]["open_time_ms"] > sig[1]["open_time_ms"] and sig[0]["values_json"]["macd"] == 1.5
    assert [a["symbol"] for a in get(dashboard, "/api/anomalies", symbol="SOLUSDT").json()] == ["SOLUSDT"]


def test_health_reports_layers_gaps_and_source(dashboard, writer, reseed):
    h = get(dashboard, "/api/health").json()
    assert [x["layer"] for x in h["layers"]] == ["ingest", "bronze", "silver", "gold", "serving", "live"]
    by = {x["layer"]: x for x in h["layers"]}
    assert by["silver"]["status"] == by["gold"]["status"] == by["live"]["status"] == "ok"
    assert by["ingest"]["status"] == "unknown"          # no streaming service in this test stack
    assert h["unfilled_gaps"] == 0 and h["simulated"] is True and h["live_listener"] is True
    # two missing minutes in the middle of SOLUSDT's day are counted as unfilled gaps
    writer.execute("""delete from candles where symbol = 'SOLUSDT' and interval = '1m' and open_time_ms in
                      (select open_time_ms from candles where symbol = 'SOLUSDT' and interval = '1m'
                       order by open_time_ms desc offset 100 limit 2)""")
    writer.execute("update sync_state set last_synced_commit = '20200101000000000' where table_name = 'gold_risk'")
    time.sleep(5.2)                                       # the health answer is kept for 5 s
    h = get(dashboard, "/api/health").json()
    assert h["unfilled_gaps"] == 2 and h["gaps_by_symbol"]["SOLUSDT"] == 2
    assert {x["layer"]: x for x in h["layers"]}["gold"]["status"] == "stale"


def test_reader_role_is_read_only_and_is_what_the_service_uses(postgres_stack, dashboard):
    get(dashboard, "/api/tickers")
    with dsn(postgres_stack, READER_ROLE).connect(autocommit=True) as conn:
        assert conn.execute("select count(*) from latest_ticker").fetchone()[0] == 3
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("update latest_ticker set last_price = 1")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("create table x (a int)")
        users = {r[0] for r in conn.execute(
            "select usename from pg_stat_activity where application_name = 'dashboard'")}
    assert users == {READER_ROLE}


def _notify_sync(writer, table: str, symbols: list[str]) -> None:
    writer.execute("select pg_notify('serving_sync', %s)",
                   (json.dumps({"table": table, "rows": 1, "symbols": symbols}),))


def test_candle_pages_are_cached_until_a_candles_sync(dashboard, writer, seeded, reseed):
    q = {"symbol": "SOLUSDT", "interval": "1m", "limit": 3}
    before = get(dashboard, "/api/candles", **q).json()["candles"][-1]["close"]
    writer.execute("update candles set close = 999.5 where symbol = 'SOLUSDT' and interval = '1m' "
                   "and open_time_ms = %s", (seeded.last_open_ms["SOLUSDT"],))
    assert get(dashboard, "/api/candles", **q).json()["candles"][-1]["close"] == before   # cached page
    _notify_sync(writer, "gold_risk", ["SOLUSDT"])      # another table's sync keeps it
    time.sleep(0.3)
    assert get(dashboard, "/api/candles", **q).json()["candles"][-1]["close"] == before
    # a candles sync drops every page, also of symbols it does not name (deletes are not named)
    _notify_sync(writer, "candles", ["BTCUSDT"])
    deadline = time.monotonic() + 5
    while get(dashboard, "/api/candles", **q).json()["candles"][-1]["close"] != 999.5:
        assert time.monotonic() < deadline, "the sync NOTIFY did not refresh the cached page"
        time.sleep(0.05)
    gz = httpx.get(dashboard + "/api/candles", params=q, headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip" and gz.json()["candles"][-1]["close"] == 999.5


def test_sse_pushes_the_notified_ticker_row(dashboard, writer, reseed):
    with httpx.stream("GET", dashboard + "/api/stream", timeout=10) as resp:
        lines = resp.iter_lines()
        assert next(lines) == "event: hello"
        writer.execute("""update latest_ticker set last_price = 12345.67, event_time_ms = event_time_ms + 1
                          where symbol = 'BTCUSDT'""")
        writer.execute("select pg_notify('serving_ticker', row_to_json(t)::text) from latest_ticker t "
                       "where symbol = 'BTCUSDT'")
        event = None
        for line in lines:
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "ticker":
                row = json.loads(line[6:])
                break
    assert row["symbol"] == "BTCUSDT" and float(row["last_price"]) == 12345.67


def test_openapi_schema_lists_every_endpoint(dashboard):
    paths = set(get(dashboard, "/openapi.json").json()["paths"])
    assert {"/api/tickers", "/api/symbols", "/api/candles", "/api/risk", "/api/risk/{symbol}", "/api/correlation",
            "/api/portfolios", "/api/portfolios/{name}", "/api/signals", "/api/anomalies", "/api/health",
            "/healthz"} <= paths
