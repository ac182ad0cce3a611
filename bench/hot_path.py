"""Hot-path cost of validating a trade frame: ``Pipeline.on_frame`` (parse, validate, sequence, envelope) with an
in-memory sink, and the decimal grammar check of one frame's price and quantity (shared/decimals.py), both against
``orjson.loads`` of the same frame (the irreducible part) in the same run.

    .venv/bin/python -m bench.hot_path            # prints µs/frame and ratios to the reference
"""
from __future__ import annotations

import time

import orjson

from shared.decimals import match_decimal
from shared.envelope import Source
from shared.symbols import ActiveSymbol
from streaming.pipeline import Pipeline


class NullSink:
    blocked = False

    def produce(self, topic, key, value, event_ms=None):
        pass


def frames(n: int) -> list[bytes]:
    now = int(time.time() * 1000)
    return [b'{"stream":"btcusdt@trade","data":{"e":"trade","E":%d,"s":"BTCUSDT","t":%d,"p":"117850.01000000",'
            b'"q":"0.00085000","T":%d,"m":false,"M":true}}' % (now, i, now) for i in range(1, n + 1)]


def best(fn, data: list[bytes], rounds: int = 5) -> float:
    """Best of ``rounds`` (µs per frame): the least disturbed run on a shared machine."""
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(data)
        out.append((time.perf_counter() - t0) / len(data) * 1e6)
    return min(out)


def main() -> None:
    data = frames(200_000)

    def pipeline(d):
        p = Pipeline([ActiveSymbol(symbol="BTCUSDT", tier="t", priority=1, streams=("trade",))], Source.SIMULATOR,
                     NullSink())
        for f in d:
            p.on_frame(f)

    def parse_only(d):
        for f in d:
            orjson.loads(f)

    def grammar(d):
        for _ in d:
            match_decimal("117850.01000000") and match_decimal("0.00085000")

    ref, ours, gram = best(parse_only, data), best(pipeline, data), best(grammar, data, rounds=9)
    print(f"orjson.loads (reference) {ref:6.2f} µs/frame")
    print(f"decimal grammar p + q    {gram:6.2f} µs/frame  ({gram / ref:.2f}x the reference)")
    print(f"Pipeline.on_frame        {ours:6.2f} µs/frame  ({ours / ref:.2f}x the reference, "
          f"{1e6 / ours:,.0f} frames/s on one core)")


if __name__ == "__main__":
    main()
