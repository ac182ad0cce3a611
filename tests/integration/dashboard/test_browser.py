"""The page in a real browser (Debian chromium + Playwright) against the running dashboard service and
real PostgreSQL: the chart is drawn from serving rows, the pickers change the data, a row committed and
NOTIFYed shows up live, a trade published to Kafka reaches the page through the live ticker consumer,
and simulator data carries the SIMULATED badge."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from browser import chromium_path, launch, screenshot
from shared.envelope import Source, build_envelope, topic_for

pytestmark = pytest.mark.timeout(300)

# pixels of the main chart canvas that differ from its background: the candles, lines and volume
DRAWN_PIXELS = """() => {
  const c = [...document.querySelectorAll('#chart canvas')].sort((a, b) => b.width * b.height - a.width * a.height)[0];
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) n++;
  return n;
}"""


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        pytest.fail("chromium not installed: ./test.sh installs it (infra/install.py --with-test-tools)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, launch(p) as ctx:
        yield ctx


@pytest.fixture()
def page(browser, dashboard):
    pg = browser.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    pg.close()
    assert errors == []


def open_page(page, base: str, symbol: str, interval: str) -> None:
    page.goto(f"{base}/?symbol={symbol}&interval={interval}")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)


def api_candles(base: str, symbol: str, interval: str) -> list[dict]:
    return httpx.get(f"{base}/api/candles", params={"symbol": symbol, "interval": interval, "limit": 1500}).json()["candles"]


def test_page_draws_the_chart_from_serving_data(page, dashboard, seeded):
    open_page(page, dashboard, "BTCUSDT", "1m")
    dash = page.evaluate("() => ({bars: dash.bars, last: dash.lastBar, errors: dash.errors})")
    assert dash["errors"] == [] and dash["bars"] == 1440
    assert dash["last"]["close"] == seeded.closes["BTCUSDT"]
    assert dash["last"]["time"] * 1000 == seeded.last_open_ms["BTCUSDT"]
    assert page.evaluate(DRAWN_PIXELS) > 5_000
    assert page.locator("#risk tr").count() == 4 and page.locator("#corr td").count() == 9
    assert page.locator("#positions tr").count() == 4 and page.locator("#feed li").count() == 6
    assert page.locator("#health [data-layer]").count() == 6
    assert "TradingView" in page.locator("footer").inner_text()
    screenshot(page, "dashboard-btcusdt-1m")


def test_switching_symbol_and_interval_changes_the_data(page, dashboard, seeded):
    open_page(page, dashboard, "BTCUSDT", "1m")
    loads = page.evaluate("dash.state.loads")
    page.select_option("#symbol", "ETHUSDT")
    page.wait_for_function(f"dash.state.loads > {loads} && dash.state.symbol === 'ETHUSDT'")
    eth = api_candles(dashboard, "ETHUSDT", "1m")
    assert page.evaluate("dash.lastBar.close") == eth[-1]["close"] == seeded.closes["ETHUSDT"]
    assert page.evaluate("dash.firstTime") == eth[0]["open_time_ms"]
    loads = page.evaluate("dash.state.loads")
    page.select_option("#interval", "1h")
    page.wait_for_function(f"dash.state.loads > {loads} && dash.state.interval === '1h'")
    hourly = api_candles(dashboard, "ETHUSDT", "1h")
    assert page.evaluate("dash.bars") == len(hourly) == 500
    assert page.evaluate("dash.lastBar.time") * 1000 == hourly[-1]["open_time_ms"]
    assert page.evaluate("dash.lastBar.close") == hourly[-1]["close"] != eth[-1]["close"]
    assert "ETHUSDT · 1h" in page.locator("#chart-title").inner_text()
    screenshot(page, "dashboard-ethusdt-1h")


def notify_ticker(writer, symbol: str, price: float, source: str | None = None) -> None:
    """What the live consumer does: upsert latest_ticker, then NOTIFY serving_ticker with the row."""
    now = int(time.time() * 1000)
    with writer.transaction():
        writer.execute("""update latest_ticker set last_price = %s, event_time_ms = %s, source = coalesce(%s, source),
                          updated_at = now() where symbol = %s""", (price, now, source, symbol))
        writer.execute("select pg_notify('serving_ticker', row_to_json(t)::text) from latest_ticker t where symbol = %s",
                       (symbol,))


def test_a_committed_ticker_shows_up_live_in_the_board_and_the_forming_candle(page, dashboard, writer, seeded, reseed):
    open_page(page, dashboard, "BTCUSDT", "1m")
    page.wait_for_selector("#live.on")
    price = round(seeded.closes["BTCUSDT"] * 1.002, 2)
    notify_ticker(writer, "BTCUSDT", price)
    page.wait_for_function(f"dash.drawn.some(d => d.symbol === 'BTCUSDT' && d.price === {price})", timeout=10_000)
    assert page.evaluate("dash.lastBar.close") == price
    assert page.locator("[data-testid=px-BTCUSDT]").inner_text() == f"{price:,.2f}"
    assert page.evaluate("dash.lastBar.high") >= price
    screenshot(page, "dashboard-live-update")


def test_simulated_badge_follows_the_source(page, dashboard, writer, reseed):
    open_page(page, dashboard, "ETHUSDT", "1m")
    badge = page.locator("#sim-badge")
    assert badge.is_visible() and "simulator" in badge.inner_text()
    assert page.locator(".tick[data-symbol=ETHUSDT] .sim").is_visible()
    screenshot(page, "dashboard-simulated-badge")
    # all data from Binance: no badge
    with writer.transaction():
        writer.execute("update latest_ticker set source = 'binance'")
        writer.execute("update candles set source = 'binance'")
    writer.execute("select pg_notify('serving_sync', %s)", (json.dumps({"table": "candles", "rows": 1, "symbols": []}),))
    deadline = time.monotonic() + 5      # the page cache drops its pages on the NOTIFY
    while httpx.get(f"{dashboard}/api/candles", params={"symbol": "ETHUSDT", "interval": "1m"}).json()["simulated"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    open_page(page, dashboard, "ETHUSDT", "1m")
    assert badge.is_hidden() and page.locator(".tick .sim").count() == 0
    # one simulated tick arrives live: the badge comes back without a reload
    page.wait_for_selector("#live.on")
    notify_ticker(writer, "SOLUSDT", 151.5, source="simulator")
    badge.wait_for(state="visible", timeout=10_000)
    assert "simulator" in badge.inner_text()


def test_a_trade_published_to_kafka_is_drawn_live(page, dashboard, kafka_stack, seeded, reseed):
    """The real path: Kafka -> serving-ticker service (upsert + NOTIFY) -> dashboard LISTEN -> SSE -> chart."""
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = kafka_stack.settings.kafka_bootstrap
    topic = topic_for("BTCUSDT")
    admin = AdminClient({"bootstrap.servers": bootstrap})   # kept alive until the topic exists
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    kafka_stack.start("serving-ticker")
    try:
        _trade_reaches_the_page(page, dashboard, bootstrap, topic, seeded)
    finally:
        kafka_stack.stop("serving-ticker")   # later tests of the session start their own


def _trade_reaches_the_page(page, dashboard, bootstrap, topic, seeded) -> None:
    from confluent_kafka import Producer

    open_page(page, dashboard, "BTCUSDT", "1m")
    page.wait_for_selector("#live.on")
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    sent: list[float] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:   # the consumer group starts at "latest": feed until it is assigned
        e = int(time.time() * 1000)
        price = round(seeded.closes["BTCUSDT"] * 1.003 + 0.01 * len(sent), 2)
        trade = {"e": "trade", "E": e, "s": "BTCUSDT", "t": e, "p": f"{price:.2f}", "q": "0.5", "T": e}
        producer.produce(topic, key=b"btcusdt@trade",
                         value=build_envelope("btcusdt@trade", "BTCUSDT", Source.BINANCE, trade, e))
        producer.flush(10)
        sent.append(price)
        if page.evaluate(f"dash.drawn.some(d => {json.dumps(sent)}.includes(d.price))"):
            break
        time.sleep(1)
    drawn = page.evaluate(f"dash.drawn.filter(d => {json.dumps(sent)}.includes(d.price)).map(d => d.price)")
    assert drawn, f"none of {len(sent)} trades published to {topic} reached the page"
    assert page.evaluate("dash.lastBar.close") in sent
    assert page.locator("#sim-badge").inner_text().count("simulator") == 1   # ETH/SOL still simulated; BTC binance
    screenshot(page, "dashboard-kafka-trade")


def test_an_empty_serving_database_shows_a_message_not_an_error(page, dashboard, writer, reseed):
    with writer.transaction():
        for table in ("candles", "latest_ticker", "gold_risk", "gold_correlation", "gold_portfolio",
                      "gold_portfolio_positions", "gold_signals", "gold_anomalies"):
            writer.execute(f"delete from {table}")
    writer.execute("select pg_notify('serving_sync', %s)", (json.dumps({"table": "candles", "rows": 1, "symbols": []}),))
    open_page(page, dashboard, "BTCUSDT", "1m")
    assert page.evaluate("dash.errors") == []
    assert "no candles" in page.locator("#chart-info").inner_text()
    assert "no portfolio" in page.locator("#pf-summary").inner_text()
    assert page.locator("#sim-badge").is_hidden()
