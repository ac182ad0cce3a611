"""./monitor.sh warns about streaming health problems and skipped symbols (rows from /status)."""
from infra.monitor import OK, WARN, streaming_status_rows


def test_healthy_status_has_no_warning():
    rows = streaming_status_rows({"state": "running", "source": "binance", "kafka_ok": True, "symbols_checked": True,
                                  "health_problems": [], "symbols_unavailable": {}})
    assert [r[2] for r in rows] == [OK, OK, OK]


def test_problems_and_unavailable_symbols_are_warnings():
    rows = streaming_status_rows({
        "state": "running", "source": "simulator", "simulated": True, "kafka_ok": True, "symbols_checked": True,
        "health_problems": ["3 Kafka delivery failures in 60 s > health.max_delivery_failures 0"],
        "symbols_unavailable": {"NOPEUSDT": "unknown symbol: not listed in exchangeInfo"}})
    by_name = {r[1]: r for r in rows}
    assert by_name["health"][2] == WARN and "delivery failures" in by_name["health"][3]
    assert by_name["symbol NOPEUSDT"][2] == WARN and "unknown symbol" in by_name["symbol NOPEUSDT"][3]
