"""Real server + real websocket client: URL forms, control messages, heartbeats, limits."""
import asyncio
import json
import time

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from binance_sim import run_in_thread
from sim_it_helpers import cfg, collect, recv_json, run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim():
    h = run_in_thread(cfg())
    yield h
    h.stop()


def test_raw_single_stream(sim):
    msgs = run(collect(sim.ws_url + "/ws/btcusdt@trade", 20))
    assert all(m["e"] == "trade" and m["s"] == "BTCUSDT" for m in msgs)
    ids = [m["t"] for m in msgs]
    assert ids == list(range(ids[0], ids[0] + 20))


def test_combined_streams_wrapper(sim):
    msgs = run(collect(sim.ws_url + "/stream?streams=btcusdt@trade/ethusdt@aggTrade/btcusdt@bookTicker", 60))
    assert {m["stream"] for m in msgs} == {"btcusdt@trade", "ethusdt@aggTrade", "btcusdt@bookTicker"}
    for m in msgs:
        assert set(m) == {"stream", "data"}
        if m["stream"] == "ethusdt@aggTrade":
            assert m["data"]["e"] == "aggTrade" and m["data"]["s"] == "ETHUSDT"


def test_url_encoded_stream_names(sim):
    msgs = run(collect(sim.ws_url + "/stream?streams=btcusdt%40trade%2Fethusdt%40trade", 10))
    assert {m["stream"] for m in msgs} <= {"btcusdt@trade", "ethusdt@trade"}
    msgs = run(collect(sim.ws_url + "/ws/btcusdt%40aggTrade", 3))
    assert all(m["e"] == "aggTrade" for m in msgs)


def test_invalid_stream_in_url_rejected(sim):
    async def go():
        with pytest.raises(InvalidStatus) as ei:
            async with websockets.connect(sim.ws_url + "/ws/btcusdt@bogus"):
                pass
        assert ei.value.response.status_code == 400
    run(go())


def test_bare_ws_subscribe_and_properties(sim):
    async def go():
        async with websockets.connect(sim.ws_url + "/ws") as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "BTCUSDT@trade"], "id": 1}))
            assert await recv_json(ws) == {"result": None, "id": 1}
            await ws.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 2}))
            seen_reply = False
            for _ in range(200):
                m = await recv_json(ws)
                if m.get("id") == 2:
                    assert m == {"result": False, "id": 2}
                    seen_reply = True
                    break
                assert m["e"] == "trade" and m["s"] == "BTCUSDT"  # upper-case name: silent
            assert seen_reply
            await asyncio.sleep(0.3)
            await ws.send(json.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": 3}))
            got = None
            for _ in range(200):
                m = await recv_json(ws)
                if "stream" in m:
                    got = m
                    break
            assert got and got["stream"] == "btcusdt@trade"
            await asyncio.sleep(0.3)
            await ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 4}))
            await asyncio.sleep(0.3)
            await ws.send("{not json")
            while True:
                m = await recv_json(ws)
                if m.get("error"):
                    assert m["error"]["code"] == 3 and m["id"] is None
                    break
            with pytest.raises(asyncio.TimeoutError):
                await recv_json(ws, 0.5)  # unsubscribed: silence
    run(go())


def test_stream_endpoint_bare_is_combined(sim):
    async def go():
        async with websockets.connect(sim.ws_url + "/stream") as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": "x1"}))
            assert await recv_json(ws) == {"result": None, "id": "x1"}
            m = await recv_json(ws)
            assert m["stream"] == "ethusdt@trade"
    run(go())


def test_microsecond_time_unit(sim):
    msgs = run(collect(sim.ws_url + "/stream?streams=btcusdt@trade&timeUnit=MICROSECOND", 5))
    now_us = time.time() * 1e6
    for m in msgs:
        assert abs(m["data"]["E"] - now_us) < 10e6 and m["data"]["T"] % 1000 == 0


def test_incoming_message_limit_closes_connection(sim):
    async def go():
        async with websockets.connect(sim.ws_url + "/ws") as ws:
            for i in range(8):
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            with pytest.raises(ConnectionClosed):
                for _ in range(50):
                    await recv_json(ws)
            assert ws.close_code == 1008
    run(go())


def test_1024_streams_limit(sim):
    async def go():
        names = [f"x{i}usdt@trade" for i in range(1024)]
        async with websockets.connect(sim.ws_url + "/ws") as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": names, "id": 1}))
            assert await recv_json(ws) == {"result": None, "id": 1}
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 2}))
            r = await recv_json(ws)
            assert r["id"] == 2 and r["error"]["code"] == 2
    run(go())


def test_server_pings_and_pong_timeout():
    h = run_in_thread(cfg(ping_interval_s=0.2, pong_timeout_s=0.6))
    try:
        async def go():
            # a well-behaved client (auto pong) survives several ping intervals
            async with websockets.connect(h.ws_url + "/ws/btcusdt@trade", ping_interval=None) as ws:
                t0 = time.monotonic()
                while time.monotonic() - t0 < 1.5:
                    await recv_json(ws)
            # a client that never answers pings is disconnected after the pong timeout
            reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
            writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert b"101" in head.split(b"\r\n")[0]
            t0 = time.monotonic()
            data = b""
            while True:
                chunk = await asyncio.wait_for(reader.read(4096), 5)
                if not chunk:
                    break
                data += chunk
                if b"\x88" in data[:1] or data.find(b"\x88") >= 0 and b"Pong timeout" in data:
                    break
            elapsed = time.monotonic() - t0
            assert data[0] == 0x89  # first frame: server ping
            assert b"Pong timeout" in data and 0.5 < elapsed < 3
            writer.close()
        run(go())
    finally:
        h.stop()


def test_connection_lifetime():
    h = run_in_thread(cfg(max_lifetime_s=0.8))
    try:
        async def go():
            async with websockets.connect(h.ws_url + "/ws/btcusdt@trade") as ws:
                t0 = time.monotonic()
                with pytest.raises(ConnectionClosed):
                    while True:
                        await recv_json(ws)
                assert 0.7 < time.monotonic() - t0 < 3
                assert ws.close_code == 1000
        run(go())
    finally:
        h.stop()


def test_server_shutdown_event_on_stop():
    h = run_in_thread(cfg())

    async def go():
        async with websockets.connect(h.ws_url + "/stream?streams=btcusdt@trade") as ws:
            await recv_json(ws)
            loop = asyncio.get_running_loop()
            stopper = loop.run_in_executor(None, h.stop)
            last = None
            with pytest.raises(ConnectionClosed):
                while True:
                    last = await recv_json(ws)
            await stopper
            assert last["stream"] == "!serverShutdown" and last["data"]["e"] == "serverShutdown"
            assert isinstance(last["data"]["E"], int)
            assert ws.close_code == 1001
    run(go())
