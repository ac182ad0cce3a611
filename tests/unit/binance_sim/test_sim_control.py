"""Live control messages (spec §1.6/§1.7): replies, ids and error codes."""
import orjson
import pytest

from binance_sim import control
from binance_sim.streams import parse_stream

pytestmark = pytest.mark.unit


class State:
    def __init__(self, combined=False, max_streams=1024):
        self.combined = combined
        self.max_streams = max_streams
        self.subs: list[str] = []

    def subscriptions(self):
        return list(self.subs)

    def add_streams(self, names):
        self.subs += [n for n in names if n not in self.subs]

    def remove_streams(self, names):
        self.subs = [s for s in self.subs if s not in names]

    def set_combined(self, v):
        self.combined = v


def h(st, obj):
    return control.handle(st, obj if isinstance(obj, (str, bytes)) else orjson.dumps(obj))


def test_subscribe_list_unsubscribe():
    st = State()
    assert h(st, {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 1}) == {"result": None, "id": 1}
    assert h(st, {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 2}) == {"result": None, "id": 2}
    assert h(st, {"method": "LIST_SUBSCRIPTIONS", "id": 3}) == {"result": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 3}
    assert h(st, {"method": "UNSUBSCRIBE", "params": ["btcusdt@depth", "ethusdt@trade"], "id": 312}) == {"result": None, "id": 312}
    assert h(st, {"method": "LIST_SUBSCRIPTIONS", "id": "abc"}) == {"result": ["btcusdt@aggTrade"], "id": "abc"}


@pytest.mark.parametrize("rid", [0, -5, 2**63 - 1, "A1b2", None, "0f9b2a4c-3d5e-4f60-8a1b-2c3d4e5f6a7b"])
def test_valid_ids_echoed(rid):
    assert h(State(), {"method": "LIST_SUBSCRIPTIONS", "id": rid}) == {"result": [], "id": rid}


@pytest.mark.parametrize("rid", [2**63, 1.5, True, "has space", "x" * 37, "0f9b2a4c-3d5e-4f60-8a1b-2c3d4e5f6a7bc", [1]])
def test_invalid_ids(rid):
    r = h(State(), {"method": "LIST_SUBSCRIPTIONS", "id": rid})
    assert r["error"] == {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}


def test_properties():
    st = State()
    assert h(st, {"method": "GET_PROPERTY", "params": ["combined"], "id": 2}) == {"result": False, "id": 2}
    assert h(st, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 5}) == {"result": None, "id": 5}
    assert st.combined is True
    assert h(st, {"method": "GET_PROPERTY", "params": ["combined"], "id": 6}) == {"result": True, "id": 6}


@pytest.mark.parametrize("msg,code,text", [
    ({"method": "SET_PROPERTY", "params": ["foo", True], "id": 1}, 0, "Unknown property"),
    ({"method": "GET_PROPERTY", "params": ["foo"], "id": 1}, 0, "Unknown property"),
    ({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 1}, 1, "Invalid value type: expected Boolean"),
    ({"method": "SET_PROPERTY", "params": ["combined", 1], "id": 1}, 1, "Invalid value type: expected Boolean"),
    ({"method": "SET_PROPERTY", "params": [5, True], "id": 1}, 2, "Invalid request: property name must be a string"),
    ({"method": "GET_PROPERTY", "params": [], "id": 1}, 2, "Invalid request: property name must be a string"),
    ({"method": "GET_PROPERTY", "params": ["combined", 1], "id": 1}, 2, "Invalid request: too many parameters"),
    ({"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 1}, 2, "Invalid request: too many parameters"),
    ({"method": "SUBSCRIBE", "params": ["btcusdt@nonsense"], "id": 1}, 2, "Invalid request: invalid stream"),
    ({"method": "SUBSCRIBE", "params": ["btcusdt"], "id": 1}, 2, "Invalid request: invalid stream"),
    ({"method": "SUBSCRIBE", "params": [42], "id": 1}, 2, "Invalid request: invalid stream"),
])
def test_errors(msg, code, text):
    r = h(State(), msg)
    assert r == {"error": {"code": code, "msg": text}, "id": 1}


def test_unknown_method_and_missing_method():
    r = h(State(), '{"method":"SUBSCRIBEX","params":[],"id":7}')
    assert r["id"] == 7 and r["error"]["code"] == 2
    assert r["error"]["msg"].startswith("Invalid request: unknown variant `SUBSCRIBEX`, expected one of `SUBSCRIBE`")
    assert r["error"]["msg"].endswith("at line 1 column 22")  # serde: column of the closing quote
    r = h(State(), '{"params":["btcusdt@trade"],"id":8}')
    assert r["error"]["code"] == 2 and r["error"]["msg"].startswith("Invalid request: missing field `method`")


def test_invalid_json():
    r = h(State(), '{"method": ')
    assert r == {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 12"}, "id": None}


def test_stream_limit_per_connection():
    st = State(max_streams=1024)
    names = [f"s{i}usdt@trade" for i in range(1024)]
    assert h(st, {"method": "SUBSCRIBE", "params": names, "id": 1})["result"] is None
    r = h(st, {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 2})
    assert r["error"]["code"] == 2 and len(st.subs) == 1024


@pytest.mark.parametrize("name,ok", [
    ("btcusdt@trade", True), ("btcusdt@aggTrade", True), ("btcusdt@kline_1M", True), ("btcusdt@kline_2d", False),
    ("btcusdt@kline_1m@+08:00", True), ("btcusdt@depth@100ms", True), ("btcusdt@depth5@100ms", True),
    ("btcusdt@depth@1000ms", True), ("btcusdt@depth7", False), ("!miniTicker@arr", True), ("!bookTicker", False),
    ("BTCUSDT@trade", True), ("btcusdt@Trade", False), ("btcusdt@ticker_1h", True), ("btcusdt@avgPrice", True),
    ("@trade", False), ("btcusdt@bookTicker", True),
])
def test_stream_name_validation(name, ok):
    assert (parse_stream(name) is not None) == ok


def test_uppercase_symbol_accepted_but_never_published():
    p = parse_stream("BTCUSDT@trade")
    assert p is not None and p.key != "btcusdt@trade"
    assert parse_stream("btcusdt@depth@1000ms").key == "btcusdt@depth@1000ms"  # its own key: frames echo the name
