"""TA-Lib-exact indicators as one streaming state machine per (symbol, interval) series (spec §2).

Why streaming: TA-Lib's EMA, RSI and MACD depend on where the series starts (their seeds), and even its
SMA is a running sum whose rounding depends on the whole history. A state machine that performs the
*same floating-point operations in the same order* as TA-Lib's C code, one close at a time, gives
TA-Lib's values whether it runs from the series origin or resumes from a saved state: resuming is
just continuing the loop. The state serialises to JSON (floats round-trip exactly via repr), so an
incremental run carries it in a table instead of re-reading history.

Defaults of the reference (spec §2.0): unstable period 0, default compatibility, every parameter
explicit: SMA 20/50/200, EMA 12/26/50, RSI 14, MACD 12/26/9, BBANDS 20/2/2 with an SMA middle band.
Pure Python on floats (no numpy needed at run time); NaN outputs are returned as None.
"""
from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

SMA_PERIODS = (20, 50, 200)  # must include BB_PERIOD: the middle band reuses its running sum
EMA_PERIODS = (12, 26, 50)
RSI_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
BB_PERIOD, BB_DEV_UP, BB_DEV_DN = 20, 2.0, 2.0
TA_EPSILON = 1e-14  # TA_IS_ZERO in TA-Lib C >= 0.6.1
WINDOW = max(max(SMA_PERIODS), BB_PERIOD)

OUTPUT_COLUMNS: tuple[str, ...] = (
    "sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "ema_50", "rsi_14",
    "macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower",
)


def _k(period: int) -> float:
    """TA-Lib PER_TO_K: 2 / (period + 1) in double."""
    return 2.0 / float(period + 1)


@dataclass
class IndicatorState:
    """Everything needed to continue the TA-Lib loops after ``count`` closes."""

    count: int = 0
    last_open_time_ms: int = -1
    closes: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    sma_total: dict = field(default_factory=lambda: {str(n): 0.0 for n in SMA_PERIODS})
    ema: dict = field(default_factory=lambda: {str(n): 0.0 for n in EMA_PERIODS})  # seed sum, then EMA
    rsi_prev: float = 0.0
    rsi_gain: float = 0.0
    rsi_loss: float = 0.0
    macd_slow: float = 0.0  # seed sum until index slow-1, then the EMA
    macd_fast: float = 0.0
    macd_sig: float = 0.0  # signal seed sum until its seed index, then the EMA

    # ------------------------------------------------------------------ the loop
    def update(self, x: float, open_time_ms: int = -1) -> dict[str, float | None]:
        """Feed the next close (index ``count``); returns this index's outputs (None = TA-Lib NaN)."""
        i = self.count
        self.closes.append(x)
        out: dict[str, float | None] = dict.fromkeys(OUTPUT_COLUMNS)
        for n in SMA_PERIODS:
            out[f"sma_{n}"] = self._sma(n, i, x)
        for n in EMA_PERIODS:
            out[f"ema_{n}"] = self._ema(n, i, x)
        out["rsi_14"] = self._rsi(i, x)
        out["macd"], out["macd_signal"], out["macd_hist"] = self._macd(i, x)
        out["bb_upper"], out["bb_middle"], out["bb_lower"] = self._bbands(i, out[f"sma_{BB_PERIOD}"])  # BB middle = the SMA(BB_PERIOD) loop
        self.count = i + 1
        self.last_open_time_ms = open_time_ms
        return out

    def _sma(self, n: int, i: int, x: float) -> float | None:
        # TA_INT_SMA: periodTotal += in[i]; out = periodTotal / n; periodTotal -= in[trailing]
        key = str(n)
        self.sma_total[key] += x
        if i < n - 1:
            return None
        value = self.sma_total[key] / n
        self.sma_total[key] -= self.closes[-n]
        return value

    def _ema(self, n: int, i: int, x: float) -> float | None:
        # TA_INT_EMA, default compatibility: seed = mean(x_0..x_{n-1}) summed left to right
        key = str(n)
        if i < n - 1:
            self.ema[key] += x
            return None
        if i == n - 1:
            self.ema[key] = (self.ema[key] + x) / n
        else:
            prev = self.ema[key]
            self.ema[key] = ((x - prev) * _k(n)) + prev
        return self.ema[key]

    def _rsi(self, i: int, x: float) -> float | None:
        # TA_RSI, default compatibility, unstable period 0
        n = RSI_PERIOD
        if i == 0:
            self.rsi_prev = x
            return None
        diff = x - self.rsi_prev
        self.rsi_prev = x
        if i > n:
            self.rsi_loss *= (n - 1)
            self.rsi_gain *= (n - 1)
        if diff < 0:
            self.rsi_loss -= diff
        else:
            self.rsi_gain += diff
        if i < n:
            return None
        self.rsi_loss /= n
        self.rsi_gain /= n
        total = self.rsi_gain + self.rsi_loss
        if -TA_EPSILON < total < TA_EPSILON:
            return 0.0
        return 100.0 * (self.rsi_gain / total)

    def _macd(self, i: int, x: float) -> tuple[float | None, float | None, float | None]:
        # TA_INT_MACD: both EMAs seeded on index slow-1; the fast seed is the *last* `fast` closes
        slow, fast, sig = MACD_SLOW, MACD_FAST, MACD_SIGNAL
        if i < slow - 1:
            self.macd_slow += x
            if i >= slow - fast:
                self.macd_fast += x
            return None, None, None
        if i == slow - 1:
            self.macd_slow = (self.macd_slow + x) / slow
            self.macd_fast = (self.macd_fast + x) / fast
        else:
            self.macd_slow = ((x - self.macd_slow) * _k(slow)) + self.macd_slow
            self.macd_fast = ((x - self.macd_fast) * _k(fast)) + self.macd_fast
        line = self.macd_fast - self.macd_slow
        j = i - (slow - 1)  # index in the internal MACD-line series
        if j < sig - 1:
            self.macd_sig += line
            return None, None, None
        if j == sig - 1:
            self.macd_sig = (self.macd_sig + line) / sig
        else:
            self.macd_sig = ((line - self.macd_sig) * _k(sig)) + self.macd_sig
        return line, self.macd_sig, line - self.macd_sig

    def _bbands(self, i: int, mid: float | None) -> tuple[float | None, float | None, float | None]:
        # middle = TA-Lib SMA(20) (same running sum); sigma = population std of the same 20 closes,
        # two-pass (TA-Lib C 0.8.1 #118 precision); a non-positive variance gives sigma 0
        n = BB_PERIOD
        if i < n - 1 or mid is None:
            return None, None, None
        window = list(self.closes)[-n:]
        mean = math.fsum(window) / n
        var = sum((v - mean) * (v - mean) for v in window) / n
        sigma = math.sqrt(var) if var > 0.0 else 0.0
        if BB_DEV_UP == BB_DEV_DN:
            band = sigma * BB_DEV_UP
            return mid + band, mid, mid - band
        return mid + sigma * BB_DEV_UP, mid, mid - sigma * BB_DEV_DN

    # ------------------------------------------------------------ persistence
    def to_json(self) -> str:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["closes"] = list(self.closes)
        return json.dumps(d, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "IndicatorState":
        d = json.loads(text)
        d["closes"] = deque(d["closes"], maxlen=WINDOW)
        return cls(**d)


def compute(closes: Iterable[float], state: IndicatorState | None = None) -> tuple[list[dict], IndicatorState]:
    """Run the loop over ``closes`` (from ``state`` or the series origin); returns outputs and final state."""
    st = state or IndicatorState()
    return [st.update(float(c)) for c in closes], st
