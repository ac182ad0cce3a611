"""Independent reference: candles aggregated *directly from trades* at each interval in plain Python
(no roll-up, no Spark), with the spec's empty-interval and finality rules."""
from __future__ import annotations

from decimal import Decimal

from crypto_pipeline.silver.intervals import INTERVAL_MS


def direct_candles(trades: list[tuple], interval: str, watermark: int) -> dict[tuple[str, int], tuple]:
    """(symbol, open_time) -> (o, h, l, c, vol, quote, tb_base, tb_quote, n, first, last, is_final).
    ``trades``: bronze rows (symbol, id, price, qty, quote, T, _, m, ...)."""
    size = INTERVAL_MS[interval]
    by: dict[tuple[str, int], list] = {}
    for t in trades:
        by.setdefault((t[0], t[5] - t[5] % size), []).append(t)
    out: dict[tuple[str, int], tuple] = {}
    for sym in sorted({k[0] for k in by}):
        wm = max(t[5] for t in trades if t[0] == sym) if watermark is None else watermark
        start = min(k[1] for k in by if k[0] == sym)
        prev = None
        for ot in range(start, wm - wm % size + 1, size):
            ts = sorted(by.get((sym, ot), []), key=lambda t: (t[5], t[1]))
            final = wm > ot + size - 1
            if ts:
                z = Decimal(0)
                row = (ts[0][2], max(t[2] for t in ts), min(t[2] for t in ts), ts[-1][2],
                       sum((t[3] for t in ts), z), sum((t[4] for t in ts), z),
                       sum((t[3] for t in ts if not t[7]), z), sum((t[4] for t in ts if not t[7]), z),
                       len(ts), min(t[1] for t in ts), max(t[1] for t in ts), final)
                prev = ts[-1][2]
            else:
                z = Decimal(0)
                row = (prev, prev, prev, prev, z, z, z, z, 0, -1, -1, final)
            out[(sym, ot)] = row
    return out


def silver_rows(rows, interval: str) -> dict[tuple[str, int], tuple]:
    return {(r.symbol, r.open_time_ms): (r.open, r.high, r.low, r.close, r.volume, r.quote_volume,
                                         r.taker_buy_base_volume, r.taker_buy_quote_volume, r.trade_count,
                                         r.first_trade_id, r.last_trade_id, r.is_final)
            for r in rows if r.interval == interval}
