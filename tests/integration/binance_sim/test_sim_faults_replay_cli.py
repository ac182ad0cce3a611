"""Each fault mode is observable by a real client; replay; the CLI process."""
import asyncio
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from binance_sim import SimControl, run_in_thread
from sim_it_helpers import cfg, http, recv_json, run

pytestmark = pytest.mark.integration
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(scope="module")
def sim():
    h = run_in_thread(cfg())
    yield h
    h.stop()


@pytest.fixture(autouse=True)
def _reset(sim):
    yield
    SimControl(sim.rest_url).reset()


URL = "/ws/btcusdt@trade"


async def read_until_closed(ws, limit=5000, timeout=5.0):
    msgs = []
    try:
        while len(msgs) < limit:
            msgs.append(await asyncio.wait_for(ws.recv(), timeout))
    except ConnectionClosed:
        return msgs, True
    return msgs, False


def test_drop_after_n_messages(sim):
    sim.control.arm_next(drop_after_messages=7)

    async def go():
        async with websockets.connect(sim.ws_url + URL) as ws:
            msgs, closed = await read_until_closed(ws)
            assert closed and len(msgs) == 7 and ws.close_code == 1006  # no close frame
    run(go())


def test_drop_at_time_and_close_mode(sim):
    sim.control.arm_next(drop_after_s=0.5, drop_mode="close")

    async def go():
        async with websockets.connect(sim.ws_url + URL) as ws:
            t0 = time.monotonic()
            msgs, closed = await read_until_closed(ws)
            assert closed and 0.4 < time.monotonic() - t0 < 2.5 and ws.close_code == 1011
    run(go())


def test_stall_no_data_no_pings():
    h = run_in_thread(cfg(ping_interval_s=0.2, pong_timeout_s=30))
    try:
        h.control.arm_next(stall_after_messages=3)

        async def go():
            pings = []
            async with websockets.connect(h.ws_url + URL, ping_interval=None) as ws:
                orig = ws.protocol.receive_data

                def spy(data):
                    if data and data[0] == 0x89:
                        pings.append(data)
                    return orig(data)
                ws.protocol.receive_data = spy
                got = [await recv_json(ws) for _ in range(3)]
                n_pings = len(pings)
                with pytest.raises(asyncio.TimeoutError):
                    await recv_json(ws, 1.2)
                assert len(got) == 3 and len(pings) <= n_pings + 1
        run(go())
    finally:
        h.stop()


@pytest.mark.parametrize("kind", ["invalid_json", "wrong_types", "missing_fields", "unknown_event"])
def test_malformed_frames(sim, kind):
    sim.control.arm_next(malformed=kind, malformed_after=2)

    async def go():
        async with websockets.connect(sim.ws_url + URL) as ws:
            raw = [await asyncio.wait_for(ws.recv(), 5) for _ in range(4)]
            good = [json.loads(r) for r in raw[:2]] + [json.loads(raw[3])]
            assert all(g["e"] == "trade" for g in good)
            bad = raw[2]
            if kind == "invalid_json":
                with pytest.raises(ValueError):
                    json.loads(bad)
            elif kind == "wrong_types":
                assert isinstance(json.loads(bad)["t"], str) and isinstance(json.loads(bad)["p"], float)
            elif kind == "missing_fields":
                b = json.loads(bad)
                assert b["e"] == "trade" and not {"E", "t", "q", "m"} & set(b) and len(b) < len(good[0])
            else:
                assert json.loads(bad)["e"] == "simUnknownEvent"
    run(go())


def test_oversized_frame_trips_client_limit(sim):
    sim.control.arm_next(malformed="oversized", oversized_bytes=2 * 1024 * 1024)

    async def go():
        async with websockets.connect(sim.ws_url + URL, max_size=1024 * 1024) as ws:
            with pytest.raises(ConnectionClosed):
                for _ in range(10):
                    await recv_json(ws)
            assert ws.protocol.close_sent.code == 1009  # client: "message too big"
    run(go())


def test_skip_duplicate_reorder_visible_in_trade_ids(sim):
    async def ids(**spec):
        sim.control.arm_next(**spec)
        async with websockets.connect(sim.ws_url + URL) as ws:
            return [(await recv_json(ws))["t"] for _ in range(12)]

    skipped = run(ids(skip_every=4))
    assert any(b - a == 2 for a, b in zip(skipped, skipped[1:]))
    dup = run(ids(duplicate_every=3))
    assert any(b == a for a, b in zip(dup, dup[1:]))
    reo = run(ids(reorder_every=3))
    assert any(b < a for a, b in zip(reo, reo[1:])) and len(set(reo)) == 12 and max(reo) - min(reo) <= 12


def test_gap_backfilled_exactly_from_rest(sim):
    sim.control.arm_next(skip_every=5)

    async def go():
        async with websockets.connect(sim.ws_url + URL) as ws:
            return [(await recv_json(ws))["t"] for _ in range(30)]
    got = run(go())
    missing = sorted(set(range(got[0], got[-1] + 1)) - set(got))
    assert missing
    _, _, hist = http(f"{sim.rest_url}/api/v3/historicalTrades?symbol=BTCUSDT&fromId={got[0]}&limit=1000")
    fetched = [t["id"] for t in hist if t["id"] <= got[-1]]
    assert fetched == list(range(got[0], got[-1] + 1)) and set(missing) <= set(fetched)


def test_refuse_connections_for_a_period(sim):
    sim.control.refuse(seconds=0.6)

    async def go():
        with pytest.raises(InvalidStatus) as ei:
            async with websockets.connect(sim.ws_url + URL):
                pass
        assert ei.value.response.status_code == 503
        await asyncio.sleep(0.7)
        async with websockets.connect(sim.ws_url + URL) as ws:
            assert (await recv_json(ws))["e"] == "trade"
    run(go())


def test_rest_429_and_5xx(sim):
    sim.control.rest_fault(429, count=1, retry_after=7)
    s, hd, b = http(sim.rest_url + "/api/v3/trades?symbol=BTCUSDT&limit=1")
    assert s == 429 and hd["Retry-After"] == "7" and b["code"] == -1003
    sim.control.rest_fault(503, count=2)
    assert [http(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT")[0] for _ in range(3)] == [503, 503, 200]
    sim.control.rest_fault(500, path="/api/v3/klines")
    assert http(sim.rest_url + "/api/v3/ping")[0] == 200
    s, _, b = http(sim.rest_url + "/api/v3/klines?symbol=BTCUSDT&interval=1m")
    assert s == 500 and b["code"] == -1000


def test_stale_depth_snapshot(sim):
    r = sim.control.stale_depth("BTCUSDT", count=1)
    time.sleep(0.3)
    _, _, snap = http(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT")
    assert snap["lastUpdateId"] == r["lastUpdateId"]
    _, _, fresh = http(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT")
    assert fresh["lastUpdateId"] > r["lastUpdateId"]


def test_fault_on_existing_connection_and_status(sim):
    async def go():
        async with websockets.connect(sim.ws_url + URL) as ws:
            await recv_json(ws)
            conns = [c for c in sim.control.status()["connections"] if c["path"] == URL]
            assert len(conns) == 1
            sim.control.arm_connection(conns[0]["id"], drop_after_messages=2)
            msgs, closed = await read_until_closed(ws)
            assert closed and len(msgs) <= 60
    run(go())


def test_replay_plays_recorded_file(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    t0 = 1_752_572_415_000
    lines = [{"recv_ts_ms": t0 + i * 100, "stream": "btcusdt@trade",
              "data": {"e": "trade", "E": t0 + i * 100, "s": "BTCUSDT", "t": 100 + i, "p": "1.00000000",
                       "q": "1.00000000", "T": t0 + i * 100, "m": False, "M": True}} for i in range(10)]
    lines.insert(5, {"stream": "btcusdt@depth", "ingest_ts_ms": t0 + 450, "schema_version": 1,
                     "payload": {"e": "depthUpdate", "E": t0 + 450, "s": "BTCUSDT", "U": 1, "u": 2, "b": [], "a": []}})
    with gzip.open(path, "wt") as fh:
        for ln in lines:
            fh.write(json.dumps(ln) + "\n")
        fh.write("not json\n")
    h = run_in_thread(cfg(replay_file=str(path), replay_speed=2.0, replay_wait_for_client=True))
    try:
        async def go():
            async with websockets.connect(h.ws_url + "/stream?streams=btcusdt@trade/btcusdt@depth") as ws:
                t_start = time.monotonic()
                got = [await recv_json(ws) for _ in range(11)]
                return got, time.monotonic() - t_start
        got, elapsed = run(go())
        trades = [g["data"]["t"] for g in got if g["stream"] == "btcusdt@trade"]
        assert trades == list(range(100, 110))
        assert [g["stream"] for g in got].index("btcusdt@depth") == 5
        assert 0.3 < elapsed < 2.0  # 0.9 s of recording at 2x speed
        st = h.control.status()["replay"]
        assert st["played"] == 11 and st["bad_lines"] == 1
    finally:
        h.stop()


def test_cli_starts_answers_ping_and_exits_on_sigterm():
    p = subprocess.Popen([sys.executable, "-m", "binance_sim", "--port", "0", "--symbols", "BTCUSDT",
                          "--rate", "50", "--seed", "3"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        line = p.stdout.readline().decode()
        assert "listening" in line and "ws://127.0.0.1:" in line
        rest = line.split("rest=")[1].split("/api")[0]
        ws_url = line.split("ws=")[1].split(" ")[0]
        assert http(rest + "/api/v3/ping")[2] == {}

        async def go():
            async with websockets.connect(ws_url + "/btcusdt@trade") as ws:
                await recv_json(ws)
                p.send_signal(signal.SIGTERM)
                last = None
                with pytest.raises(ConnectionClosed):
                    while True:
                        last = await recv_json(ws)
                assert last["e"] == "serverShutdown"
        run(go())
        assert p.wait(10) == 0
        out = p.stdout.read().decode()
        assert "stopped" in out
    finally:
        if p.poll() is None:
            p.kill()


def test_cli_help_and_bad_fault_flag():
    out = subprocess.run([sys.executable, "-m", "binance_sim", "--help"], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), timeout=30)
    assert out.returncode == 0 and "--replay" in out.stdout and "--fault" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "binance_sim", "--fault", "bogus=1"], cwd=ROOT, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=30)
    assert bad.returncode == 2 and "bogus" in bad.stderr
