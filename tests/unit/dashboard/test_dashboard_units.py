"""Dashboard pieces without services: settings errors, the page cache, Hudi instants, and the answers
when the serving database cannot be reached (503 with the reason, 422 before any query)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dashboard.app import create_app
from dashboard.config import ConfigError, load_config
from dashboard.health import hudi_instant_ms
from dashboard.page_cache import Page, PageCache
from infra.local_stack import free_port

ENV = {"SERVING_PG_HOST": "127.0.0.1", "SERVING_PG_PORT": "5433", "SERVING_PG_DB": "serving",
       "SERVING_READER_PASSWORD": "x", "DASHBOARD_PORT": "8050"}


def test_settings_errors_name_the_variable_and_value():
    assert load_config(ENV).serving.user == "reader"
    with pytest.raises(ConfigError, match="DASHBOARD_PORT = 'eighty'"):
        load_config({**ENV, "DASHBOARD_PORT": "eighty"})
    with pytest.raises(ConfigError, match="DASHBOARD_PORT = 70000: must be between 1 and 65535"):
        load_config({**ENV, "DASHBOARD_PORT": "70000"})
    with pytest.raises(ConfigError, match="SERVING_READER_PASSWORD"):
        load_config({k: v for k, v in ENV.items() if k != "SERVING_READER_PASSWORD"})


def test_page_cache_keeps_pages_until_their_symbol_syncs_and_only_while_listening():
    c = PageCache(2)                                 # bytes: two one-byte pages
    c.put("a", Page("BTC", b"1"), c.generation)
    assert c.get("a") is None                        # off until the LISTEN connection is up
    c.set_enabled(True)
    c.put("a", Page("BTC", b"1"), c.generation)
    c.put("b", Page("ETH", b"2"), c.generation)
    c.invalidate(["ETH"])
    assert c.get("a").body == b"1" and c.get("b") is None
    stale_gen = c.generation
    c.invalidate(["BTC"])
    c.put("a", Page("BTC", b"old"), stale_gen)       # built before the sync: not stored
    assert c.get("a") is None
    for k in "xyz":
        c.put(k, Page("SOL", k.encode()), c.generation)
    assert c.get("x") is None and c.get("z").body == b"z"   # bounded, least recently used goes
    c.set_enabled(False)
    assert c.get("z") is None


def test_hudi_instants():
    assert hudi_instant_ms("20261129162255123") == 1795969375123
    assert hudi_instant_ms("20261129162255") == 1795969375000
    assert hudi_instant_ms(None) is None and hudi_instant_ms("garbage") is None


def test_unreachable_database_is_a_503_with_the_reason_and_bad_input_still_a_422(tmp_path: Path):
    (tmp_path / "lightweight-charts.standalone.production.js").write_text("//")
    cfg = dataclasses.replace(load_config({**ENV, "SERVING_PG_PORT": str(free_port())}), vendor_dir=tmp_path,
                              pool_timeout_s=0.5)
    with TestClient(create_app(cfg)) as client:
        r = client.get("/api/tickers")
        assert r.status_code == 503 and "serving database unavailable" in r.json()["detail"]
        assert client.get("/healthz").status_code == 503
        r = client.get("/api/candles", params={"symbol": "BTCUSDT", "interval": "2m"})
        assert r.status_code == 422 and "'interval' = '2m'" in r.json()["message"]
        assert client.get("/").status_code == 200 and "lightweight-charts" in client.get("/").text


def test_concurrent_requests_for_one_page_share_one_build():
    import asyncio

    async def scenario() -> tuple[int, set[bytes]]:
        c = PageCache(1024)
        c.set_enabled(True)
        builds = 0

        async def build() -> bytes:
            nonlocal builds
            builds += 1
            await asyncio.sleep(0.05)
            return b"page"

        pages = await asyncio.gather(*(c.get_or_build("k", "BTC", build) for _ in range(50)))
        again = await c.get_or_build("k", "BTC", build)          # cached now
        c.invalidate()
        await c.get_or_build("k", "BTC", build)                  # after a sync: built again
        return builds, {p.body for p in [*pages, again]}

    builds, bodies = asyncio.run(scenario())
    assert builds == 2 and bodies == {b"page"}
