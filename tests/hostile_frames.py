"""Hypothesis strategies for malformed and hostile exchange frames (combined-stream websocket frames).

Every frame drawn from :func:`hostile_frame` is invalid BY CONSTRUCTION, judged by the exchange's contract and
not by the validators under test: truncated JSON, non-JSON tokens (NaN, Infinity, 1e999), wrong JSON types, ids
outside a signed 64-bit long or negative, times in the far future or not positive, decimal strings Binance never
sends ("inf", "1e5", "1_0", non-ASCII digits, > 18 decimals, zero or negative where positive is required),
duplicated keys whose last value is hostile, missing keys, wrong or look-alike symbols, 1 MiB strings, unknown
streams and non-object frames. So each must end in the DLQ (streaming) or the quarantine (bronze) with a reason.

Control messages of the protocol (``{"result": …}`` replies, ``serverShutdown`` events) are not drawn: the
service acts on them by design instead of dead-lettering them."""
from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import strategies as st

from shared.decimals import is_decimal

SYMBOL = "FUZZUSDT"
STREAMS = {"trade": "fuzzusdt@trade", "aggTrade": "fuzzusdt@aggTrade", "depth": "fuzzusdt@depth",
           "kline_1m": "fuzzusdt@kline_1m", "bookTicker": "fuzzusdt@bookTicker", "miniTicker": "fuzzusdt@miniTicker"}
MIB = 1 << 20
T_BASE = 1_700_000_000_000  # a past event time: valid, only late (quality penalty)


def dumps(obj) -> bytes:
    """Compact JSON that also writes integers beyond 64 bits (orjson refuses them)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def frame(stream: str, data: bytes) -> bytes:
    return b'{"stream":"%s","data":%s}' % (stream.encode(), data)


def valid_trade(tid: int, now_ms: int) -> dict:
    return {"e": "trade", "E": now_ms, "s": SYMBOL, "t": tid, "p": "117850.01000000", "q": "0.00085000",
            "T": now_ms, "m": False, "M": True}


def templates(now_ms: int) -> dict[str, dict]:
    """A valid payload per stream type (ids far from the valid trades' range)."""
    return {
        "trade": valid_trade(10**12, now_ms),
        "aggTrade": {"e": "aggTrade", "E": now_ms, "s": SYMBOL, "a": 10**12, "p": "1.50000000", "q": "2.00000000",
                     "f": 10**12, "l": 10**12 + 1, "T": now_ms, "m": True, "M": True},
        "depth": {"e": "depthUpdate", "E": now_ms, "s": SYMBOL, "U": 10**12, "u": 10**12 + 2,
                  "b": [["1.00000000", "2.00000000"]], "a": [["1.10000000", "0.00000000"]]},
        "kline_1m": {"e": "kline", "E": now_ms, "s": SYMBOL, "k": {
            "t": now_ms - 60_000, "T": now_ms - 1, "s": SYMBOL, "i": "1m", "f": 1, "L": 2, "o": "1.0", "c": "1.1",
            "h": "1.2", "l": "0.9", "v": "10.0", "n": 2, "x": False, "q": "11.0", "V": "5.0", "Q": "5.5", "B": "0"}},
        "bookTicker": {"u": 10**12, "s": SYMBOL, "b": "1.0", "B": "2.0", "a": "1.1", "A": "3.0"},
        "miniTicker": {"e": "24hrMiniTicker", "E": now_ms, "s": SYMBOL, "c": "1.1", "o": "1.0", "h": "1.2",
                       "l": "0.9", "v": "10.0", "q": "11.0"},
    }


# decimal fields per stream type and the contract's rule for them: "pos" > 0, "nonneg" >= 0, "any" (a required
# decimal of either sign: a ticker's high/low), "optional" (may be missing or null, else a decimal)
DECIMALS = {
    "trade": [(("p",), "pos"), (("q",), "pos")],
    "aggTrade": [(("p",), "pos"), (("q",), "pos")],
    "kline_1m": [(("k", f), "pos") for f in "ohlc"] + [(("k", "v"), "nonneg")]
                + [(("k", f), "optional") for f in ("q", "V", "Q")],
    "bookTicker": [((f,), "nonneg") for f in ("b", "B", "a", "A")],
    "miniTicker": [(("c",), "pos"), (("o",), "pos"), (("h",), "any"), (("l",), "any"), (("v",), "nonneg"),
                   (("q",), "optional")],
}
IDS = {"trade": ["t"], "aggTrade": ["a", "f", "l"], "depth": ["U", "u"], "bookTicker": ["u"]}
TIMES = {"trade": ["E", "T"], "aggTrade": ["E", "T"], "depth": ["E"], "kline_1m": ["E"], "miniTicker": ["E"]}
REQUIRED = {"trade": ["E", "s", "t", "p", "q", "T", "m"], "aggTrade": ["E", "s", "a", "p", "q", "f", "l", "T"],
            "depth": ["E", "s", "U", "u", "b", "a"], "kline_1m": ["E", "s", "k"], "bookTicker": ["s", "u", "b", "B", "a", "A"],
            "miniTicker": ["E", "s", "c", "o", "h", "l", "v"]}

NOT_DECIMAL = ["inf", "-inf", "Infinity", "-Infinity", "NaN", "nan", "1e999", "-1e999", "1e5", "1E-3", "1_0", "1_000.5",
               "+1.5", ".5", "1.", "", " ", " 1.5", "1.5 ", "1.5\n", "\t1", "0x10", "١٢٣", "１２", "٠.٥", "1,5", "1.5.5",
               "--1", "-", ".", "1" * 21, "1." + "1" * 19, "0." + "0" * 18 + "1", "1" * 25 + ".5", "½", "1e", "e1"]
NOT_POSITIVE = ["0", "0.0", "0.00000000", "-0", "-0.0", "-1", "-0.00000001", "-117850.01000000"]
# Look-alikes of the symbol: Cyrillic letters, zero-width space, lower case, trailing space
FAKE_SYMBOLS = ["FUZZUSDТ", "FUZZUSDT\u200b", "fuzzusdt", "FUZZUSDT ", "ＦＵＺＺＵＳＤＴ", "FUZZ USDT", "BTCUSDT", ""]

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
not_int = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
                    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
out_of_long = st.one_of(st.integers(min_value=2**63, max_value=10**40), st.integers(min_value=-(10**40), max_value=-1))
non_decimal_text = st.text(min_size=1, max_size=30).filter(lambda s: any(c not in "0123456789.-" for c in s))
bad_decimal_string = st.one_of(
    st.sampled_from(NOT_DECIMAL), non_decimal_text,
    st.from_regex(r"[1-9][0-9]{20,39}(\.[0-9]{1,8})?", fullmatch=True),      # > 20 integer digits
    st.from_regex(r"[0-9]{1,5}\.[0-9]{19,30}", fullmatch=True),             # > 18 decimals
    st.floats(allow_nan=True, allow_infinity=True).map(repr).filter(lambda s: "e" in s or "n" in s),
)
not_a_string_nonnull = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                                 st.lists(st.text(max_size=3), max_size=2))
not_a_string = st.one_of(st.none(), not_a_string_nonnull)


def valid_level(v: object) -> bool:
    """A depth level as the contract has it: [price, quantity], both decimal strings, price > 0, quantity >= 0."""
    return (isinstance(v, list) and len(v) == 2 and all(is_decimal(x) for x in v)
            and Decimal(v[0]) > 0 and Decimal(v[1]) >= 0)


# a depth level that breaks the contract; a value of the wrong type can happen to be a valid level (a list of
# two short strings such as ["9", "9"]), so those are filtered out
hostile_level = st.one_of(
    st.tuples(bad_decimal_string, st.just("1.0")).map(list), st.tuples(st.just("1.0"), bad_decimal_string).map(list),
    st.lists(st.just("1.0"), max_size=4).filter(lambda v: len(v) != 2), not_a_string.filter(lambda v: not valid_level(v)),
    st.just(["-1.0", "1.0"]), st.just(["0", "1.0"]), st.just(["1.0", "-2.0"]))


def _set(d: dict, path: tuple, value) -> dict:
    d = json.loads(json.dumps(d))  # deep copy
    target = d
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return d


ALL_KINDS = ("decimal", "id", "time", "missing", "symbol", "duplicate", "type", "level")
# what bronze must quarantine on its own (a forged Kafka record that never passed the streaming service): the
# decimal grammar, ids, duplicated keys, depth levels. (A JSON number where a decimal string belongs is read as its
# text by Spark and accepted; streaming refuses it, which is the safe direction.)
GRAMMAR_KINDS = ("decimal", "id", "duplicate", "level")


@st.composite
def hostile_payload(draw, now_ms: int, kinds: tuple[str, ...] = ALL_KINDS) -> tuple[str, bytes]:
    """(stream type, payload bytes): a payload of a subscribed stream with one hostile mutation."""
    forged = kinds == GRAMMAR_KINDS
    stype = draw(st.sampled_from(sorted(STREAMS)))
    if forged:  # every stream type that has a mutation of these kinds
        stype = draw(st.sampled_from(sorted(set(DECIMALS) | set(IDS))))
    base = templates(now_ms)[stype]
    kind = draw(st.sampled_from([k for k in kinds if k != "level" or stype == "depth"]
                                if forged else list(kinds)))
    if forged and kind == "decimal" and stype not in DECIMALS or forged and kind == "id" and stype not in IDS:
        kind = "id" if stype in IDS else "decimal"
    if forged and kind == "duplicate" and not any(len(path) == 1 for path, _ in DECIMALS.get(stype, [])):
        kind = "id" if stype in IDS else "decimal"
    if kind == "decimal" and stype in DECIMALS:
        path, rule = draw(st.sampled_from(DECIMALS[stype]))
        options = [bad_decimal_string]
        if not forged:
            options.append(not_a_string if rule != "optional" else not_a_string_nonnull)
        if rule == "pos":
            options.append(st.sampled_from(NOT_POSITIVE))
        if rule == "nonneg":
            options.append(st.sampled_from(["-1", "-0.5", "-117850.01"]))
        return stype, dumps(_set(base, path, draw(st.one_of(*options))))
    if kind == "id" and stype in IDS:
        return stype, dumps(_set(base, (draw(st.sampled_from(IDS[stype])),), draw(st.one_of(out_of_long, not_int))))
    if kind == "time" and stype in TIMES:
        bad = draw(st.one_of(st.integers(max_value=0), st.integers(min_value=now_ms + 86_400_000, max_value=2**62),
                             out_of_long, not_int))
        return stype, dumps(_set(base, (draw(st.sampled_from(TIMES[stype])),), bad))
    if kind == "missing":
        key = draw(st.sampled_from(REQUIRED[stype]))
        return stype, dumps({k: v for k, v in base.items() if k != key})
    if kind == "symbol":
        return stype, dumps(_set(base, ("s",), draw(st.one_of(st.sampled_from(FAKE_SYMBOLS), not_a_string))))
    top_level = [path for path, _rule in DECIMALS.get(stype, []) if len(path) == 1]
    if kind == "duplicate" and top_level:
        # the key again at the end with a hostile value: JSON parsers keep the last one
        key = draw(st.sampled_from(top_level))[0]
        bad = dumps(draw(st.sampled_from(NOT_DECIMAL) if forged else st.one_of(st.sampled_from(NOT_DECIMAL),
                                                                                not_a_string_nonnull)))
        return stype, dumps(base)[:-1] + b',"%s":%s}' % (key.encode(), bad)
    if kind == "level" and stype == "depth":
        side = draw(st.sampled_from(["b", "a"]))
        return stype, dumps(_set(base, (side,), [["1.00000000", "1.00000000"], draw(hostile_level)]))
    # any other field gets a value of the wrong JSON type
    key = draw(st.sampled_from(REQUIRED[stype]))
    if key in IDS.get(stype, []) or key in ("E", "T"):
        wrong = not_int
    elif key == "m":
        wrong = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.floats(allow_nan=False))
    elif key == "k" or (stype == "depth" and key in ("a", "b")):
        wrong = json_scalars  # an object / a list of levels expected
    else:
        wrong = not_a_string  # symbol and decimals are strings
    return stype, dumps(_set(base, (key,), draw(wrong)))


RAW_TOKENS = [b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"0x1F", b"01", b"1.0", b"1e2", b"+1",
              b"'1'", b"undefined", b"\"\\ud800\""]


@st.composite
def hostile_frame(draw, now_ms: int) -> bytes:
    kind = draw(st.sampled_from(["payload"] * 6 + ["truncated", "token", "structure", "huge", "unicode"]))
    if kind == "payload":
        stype, payload = draw(hostile_payload(now_ms))
        return frame(STREAMS[stype], payload)
    if kind == "truncated":
        full = frame(STREAMS["trade"], dumps(valid_trade(draw(st.integers(1, 10**6)), now_ms)))
        return full[:draw(st.integers(0, len(full) - 1))]
    if kind == "token":  # a non-JSON token where a number is expected
        key = draw(st.sampled_from([b"t", b"E", b"T", b"p", b"q"]))
        tok = draw(st.sampled_from(RAW_TOKENS))
        raw = dumps(valid_trade(5, now_ms))
        start = raw.index(b'"%s":' % key) + len(key) + 3
        end = min(i for i in (raw.find(b",", start), raw.find(b"}", start)) if i >= 0)
        return frame(STREAMS["trade"], raw[:start] + tok + raw[end:])
    if kind == "structure":
        return draw(st.one_of(
            st.sampled_from([b"[]", b"null", b"1", b'"x"', b"{}", b'{"stream":"fuzzusdt@trade"}',
                             b'{"data":{"e":"trade"}}', b"", b" ", b"{\"stream\":\"fuzzusdt@trade\",\"data\":[]}"]),
            json_scalars.map(lambda v: frame(STREAMS["trade"], dumps(v))),
            st.text(min_size=1, max_size=40).filter(lambda s: s not in STREAMS.values())
            .map(lambda s: b'{"stream":%s,"data":{"e":"trade"}}' % dumps(s)),
        ))
    if kind == "huge":  # 1 MiB strings: over the frame limit, or just under it in a checked field
        where = draw(st.sampled_from(["p", "s", "pad"]))
        size = draw(st.sampled_from([MIB - 400, MIB, MIB + 1]))
        base = valid_trade(7, now_ms)
        if where == "pad":
            return frame(STREAMS["trade"], dumps({**base, "p": "0", "x": "9" * size}))
        return frame(STREAMS["trade"], dumps({**base, where: "9" * size if where == "p" else "Ü" * (size // 2)}))
    # unicode: look-alike streams and symbols, escapes, lone surrogates
    return draw(st.sampled_from([
        frame("fuzzusdt@trаde", dumps(valid_trade(9, now_ms))),  # Cyrillic а: not subscribed
        frame(STREAMS["trade"], dumps({**valid_trade(9, now_ms), "s": "FUZZ\u0000USDT"})),
        frame(STREAMS["trade"], dumps(valid_trade(9, now_ms))).replace(b'"FUZZUSDT"', b'"FUZZUSD\\u0054\\u200b"'),
        frame(STREAMS["trade"], dumps(valid_trade(9, now_ms))).replace(b'"117850.01000000"', b'"\\ud800"'),
        frame(STREAMS["trade"], dumps({**valid_trade(9, now_ms), "p": "１１７８５０"})),
    ]))
