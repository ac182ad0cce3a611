"""Market invariants: dense ids, aggTrades cover trades, klines equal their
trades, depth U/u chain bridges the REST snapshot, determinism by seed."""
from decimal import Decimal

import pytest

from binance_sim.candles import close_time, open_time
from binance_sim.market import Market
from binance_sim.streams import Fmt, partial_depth
from sim_unit_helpers import START, Harness, make_cfg

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def run():
    h = Harness(make_cfg(), streams=["btcusdt@trade", "btcusdt@aggTrade", "btcusdt@kline_1s", "btcusdt@kline_1m",
                                     "btcusdt@depth@100ms", "btcusdt@depth", "btcusdt@ticker", "ethusdt@trade"])
    msgs = h.run(125_000, step=100)
    out = {}
    for m in msgs:
        out.setdefault(m["stream"], []).append(m["data"])
    return h, out


def test_trade_ids_dense_and_time_ordered(run):
    _, s = run
    for name in ("btcusdt@trade", "ethusdt@trade"):
        ts = s[name]
        assert len(ts) > 1000
        assert [t["t"] for t in ts] == list(range(ts[0]["t"], ts[0]["t"] + len(ts)))
        assert all(a["T"] <= b["T"] for a, b in zip(ts, ts[1:]))


def test_trade_rate_matches_config(run):
    _, s = run
    rate = len(s["btcusdt@trade"]) / 125
    assert 160 < rate < 240  # configured 200/s


def test_agg_trades_cover_trades_exactly(run):
    _, s = run
    trades = {t["t"]: t for t in s["btcusdt@trade"]}
    aggs = s["btcusdt@aggTrade"]
    assert [a["a"] for a in aggs] == list(range(aggs[0]["a"], aggs[0]["a"] + len(aggs)))
    for a, b in zip(aggs, aggs[1:]):
        assert b["f"] == a["l"] + 1
    assert aggs[0]["f"] == min(trades) and aggs[-1]["l"] == max(trades)
    for a in aggs:
        parts = [trades[i] for i in range(a["f"], a["l"] + 1)]
        assert {p["p"] for p in parts} == {a["p"]} and {p["T"] for p in parts} == {a["T"]}
        assert {p["m"] for p in parts} == {a["m"]}
        assert sum(Decimal(p["q"]) for p in parts) == Decimal(a["q"])


def _agg(trades):
    o, c = trades[0]["p"], trades[-1]["p"]
    v = sum(Decimal(t["q"]) for t in trades)
    q = sum(Decimal(t["q"]) * Decimal(t["p"]) for t in trades)
    V = sum(Decimal(t["q"]) for t in trades if not t["m"])
    Q = sum(Decimal(t["q"]) * Decimal(t["p"]) for t in trades if not t["m"])
    return dict(o=Decimal(o), c=Decimal(c), h=max(Decimal(t["p"]) for t in trades),
                l=min(Decimal(t["p"]) for t in trades), v=v, q=q, V=V, Q=Q, n=len(trades),
                f=trades[0]["t"], L=trades[-1]["t"])


@pytest.mark.parametrize("interval,stream", [("1s", "btcusdt@kline_1s"), ("1m", "btcusdt@kline_1m")])
def test_closed_kline_equals_aggregate_of_its_trades(run, interval, stream):
    h, s = run
    trades = s["btcusdt@trade"]
    closed = [d["k"] for d in s[stream] if d["k"]["x"]]
    if interval == "1m":  # the 1m kline closing at START+60s and +120s
        assert len(closed) == 2
    else:
        assert len(closed) >= 120
    first_t = trades[0]["T"]
    for k in closed:
        if k["t"] < first_t:
            continue
        mine = [t for t in trades if k["t"] <= t["T"] <= k["T"]]
        assert k["n"] == len(mine)
        if not mine:
            assert k["f"] == k["L"] == -1 and k["o"] == k["c"] == k["h"] == k["l"]
            continue
        a = _agg(mine)
        for key in ("o", "c", "h", "l", "v", "q", "V", "Q"):
            assert Decimal(k[key]) == a[key], (key, k)
        assert (k["n"], k["f"], k["L"]) == (a["n"], a["f"], a["L"]) and k["n"] == k["L"] - k["f"] + 1
    # consecutive 1s klines: next t = previous T + 1
    for a, b in zip(closed, closed[1:]):
        assert b["t"] == a["T"] + 1


def test_ticker_counts_match_trades(run):
    _, s = run
    last = s["btcusdt@ticker"][-1]
    trades = [t for t in s["btcusdt@trade"] if t["t"] <= last["L"]]
    assert last["n"] == last["L"] - last["F"] + 1 == len(trades)
    assert Decimal(last["v"]) == sum(Decimal(t["q"]) for t in trades)
    assert last["c"] == trades[-1]["p"]


@pytest.mark.parametrize("stream", ["btcusdt@depth@100ms", "btcusdt@depth"])
def test_depth_update_ids_are_continuous(run, stream):
    _, s = run
    ev = s[stream]
    assert len(ev) > 50
    for a, b in zip(ev, ev[1:]):
        assert b["U"] == a["u"] + 1 and a["U"] <= a["u"]


def test_snapshot_bridges_diff_stream_and_rebuilds_book():
    """Spec §2.9: snapshot lastUpdateId falls inside the first relevant event and
    applying the diffs to the snapshot reproduces the simulator's book exactly."""
    h = Harness(make_cfg(), streams=["btcusdt@depth@100ms"], variant=0)
    h.run(1030, step=10)
    m = h.market.symbols["BTCUSDT"]
    f = Fmt(m.spec.tick_units, m.spec.step_units, m.spec.quote_mult)
    snap = partial_depth(f, *m.depth(5000))
    events = h.run(4970, step=10)  # ends at START+6000
    events = [e for e in events if e["u"] > snap["lastUpdateId"]]
    assert events[0]["U"] <= snap["lastUpdateId"] + 1 <= events[0]["u"]
    bids = {p: q for p, q in snap["bids"]}
    asks = {p: q for p, q in snap["asks"]}
    for e in events:
        for side, key in ((bids, "b"), (asks, "a")):
            for p, q in e[key]:
                if Decimal(q) == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
    u, rb, ra = m.depth(5000)
    assert u == events[-1]["u"]  # ends on a 100 ms boundary: all flushed
    assert bids == {f.p(p): f.q(q) for p, q in rb}
    assert asks == {f.p(p): f.q(q) for p, q in ra}
    best_bid = max(bids, key=Decimal)
    best_ask = min(asks, key=Decimal)
    assert Decimal(best_bid) < Decimal(best_ask)


def test_trades_happen_at_book_levels():
    """Within one step buys hit asks and sells hit bids: every buy price > every sell price."""
    h = Harness(make_cfg(), streams=["btcusdt@trade", "btcusdt@bookTicker"], variant=0)
    checked = 0
    for _ in range(300):
        msgs = h.run(20)
        trades = [m for m in msgs if m.get("e") == "trade"]
        buys = [Decimal(t["p"]) for t in trades if not t["m"]]
        sells = [Decimal(t["p"]) for t in trades if t["m"]]
        if buys and sells:
            assert min(buys) > max(sells)
            checked += 1
        bt = [m for m in msgs if "u" in m and "b" in m]
        if trades and bt:
            mid = (Decimal(bt[-1]["b"]) + Decimal(bt[-1]["a"])) / 2
            assert abs(Decimal(trades[-1]["p"]) - mid) / mid < Decimal("0.001")
    assert checked > 10


def test_tick_and_lot_sizes_respected(run):
    _, s = run
    for t in s["btcusdt@trade"]:
        assert (Decimal(t["p"]) / Decimal("0.01")) % 1 == 0
        assert (Decimal(t["q"]) / Decimal("0.00001")) % 1 == 0 and Decimal(t["q"]) > 0


def _trades(seed, ms=5000):
    h = Harness(make_cfg(seed=seed), streams=["btcusdt@trade", "ethusdt@trade"])
    return [(m["data"]["t"], m["data"]["p"], m["data"]["q"], m["data"]["T"], m["data"]["m"]) for m in h.run(ms)]


def test_deterministic_for_a_seed():
    a, b, c = _trades(7), _trades(7), _trades(8)
    assert a == b and len(a) > 500
    assert a != c


def test_symbols_are_correlated():
    cfg = make_cfg(correlation=0.9, jump_rate_per_hour=0)
    mk = Market(cfg, START)
    xs, ys = [], []
    t = START
    pb, pe = mk.symbols["BTCUSDT"].fair, mk.symbols["ETHUSDT"].fair
    for _ in range(400):
        t += 1000
        mk.advance(t)
        b, e = mk.symbols["BTCUSDT"].fair, mk.symbols["ETHUSDT"].fair
        xs.append(b / pb - 1)
        ys.append(e / pe - 1)
        pb, pe = b, e
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    corr = cov / (sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys)) ** 0.5
    assert corr > 0.7


def test_history_trimmed_to_span():
    h = Harness(make_cfg(history_s=5), streams=[])
    h.run(12_000, step=100)
    m = h.market.symbols["BTCUSDT"]
    assert m.trades and h.clock.now_ms() - m.trades[0][3] <= 6000
    assert m.trades[-1][0] - m.trades[0][0] + 1 == len(m.trades)


@pytest.mark.parametrize("iv,ts,exp_open,exp_close", [
    ("1m", 1752572415237, 1752572400000, 1752572459999),
    ("1w", 1499040000000 + 3 * 86_400_000, 1499040000000, 1499040000000 + 7 * 86_400_000 - 1),  # Monday
    ("1M", 1752572415237, 1751328000000, 1754006399999),  # July 2025
    ("1M", 1735689600000 - 1, 1733011200000, 1735689599999),  # December 2024 -> next year
    ("1d", 1752572415237, 1752537600000, 1752623999999),
])
def test_kline_boundaries(iv, ts, exp_open, exp_close):
    assert open_time(iv, ts) == exp_open
    assert close_time(iv, exp_open) == exp_close


def test_utc8_daily_boundary():
    t = open_time("1d", 1752572415237, 8 * 3_600_000)
    assert (t + 8 * 3_600_000) % 86_400_000 == 0 and t <= 1752572415237 < t + 86_400_000


def test_clock_id_base_keeps_ids_increasing_across_restarts():
    from binance_sim.config import clock_id_base

    first = clock_id_base(now_ms=1_700_000_000_000)
    # an hour at 10,000 trades/s issues ids first+1 .. first+36M; the restarted base is not below the last
    assert clock_id_base(now_ms=1_700_000_000_000 + 3_600_000) >= first + 36_000_000
    assert clock_id_base(now_ms=1_700_000_001_000) >= first + 10_000
