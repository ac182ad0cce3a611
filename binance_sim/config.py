"""Simulator configuration.

Plain dataclasses (no I/O) so tests can build a config in one line and the CLI
can map flags onto the same fields.  Symbol filters (tick and lot size) live
here because exchangeInfo, the order book and the decimal formatting all need
the *same* numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

KLINE_INTERVALS: tuple[str, ...] = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h",
    "6h", "8h", "12h", "1d", "3d", "1w", "1M",
)

#: Output precision of every decimal string (live spot pads to 8 decimals).
DECIMALS = 8
SCALE = 10**DECIMALS

_KNOWN_QUOTES = ("FDUSD", "USDT", "USDC", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY")

# symbol -> (initial price, tick size, step size)
_DEFAULT_SPECS: dict[str, tuple[str, str, str]] = {
    "BTCUSDT": ("117850.00", "0.01", "0.00001"),
    "ETHUSDT": ("3500.00", "0.01", "0.0001"),
    "BNBUSDT": ("650.00", "0.01", "0.001"),
    "SOLUSDT": ("180.00", "0.01", "0.001"),
    "XRPUSDT": ("2.5000", "0.0001", "0.1"),
    "ADAUSDT": ("0.8000", "0.0001", "0.1"),
    "DOGEUSDT": ("0.20000", "0.00001", "1"),
    "ETHBTC": ("0.02950", "0.00001", "0.001"),
}


def _units(value: str | Decimal) -> int:
    """Decimal string -> integer count of 1e-8 units (exact, raises if finer)."""
    d = Decimal(str(value)) * SCALE
    if d != d.to_integral_value():
        raise ValueError(f"{value} has more than {DECIMALS} decimals")
    return int(d)


def _decimals(value: str) -> int:
    exp = Decimal(value).normalize().as_tuple().exponent
    return max(0, -int(exp))


@dataclass
class SymbolSpec:
    """One tradable symbol.  Prices are integer ticks, quantities integer lots."""

    symbol: str
    base: str = ""
    quote: str = ""
    price: str = "100.00"
    tick_size: str = "0.01"
    step_size: str = "0.001"
    rate: float = 20.0  # trades per second (mean)
    volatility: float = 0.8  # annualised
    status: str = "TRADING"

    def __post_init__(self) -> None:
        self.symbol = self.symbol.upper()
        if not self.base or not self.quote:
            for q in _KNOWN_QUOTES:
                if self.symbol.endswith(q) and len(self.symbol) > len(q):
                    self.base, self.quote = self.symbol[: -len(q)], q
                    break
            else:
                self.base, self.quote = self.symbol[:-4] or self.symbol, self.symbol[-4:]
        if _decimals(self.tick_size) + _decimals(self.step_size) > DECIMALS:
            raise ValueError(
                f"{self.symbol}: tick_size x step_size needs more than {DECIMALS} decimals; "
                "quote volumes would not be exact"
            )
        self.tick_units = _units(self.tick_size)  # price = ticks * tick_units / 1e8
        self.step_units = _units(self.step_size)  # qty = lots * step_units / 1e8
        # quote = ticks*lots*tick_units*step_units / 1e16 -> exact in 1e-8 units:
        self.quote_mult = self.tick_units * self.step_units // SCALE
        self.start_ticks = max(1, int(Decimal(self.price) / Decimal(self.tick_size)))

    @classmethod
    def default(cls, symbol: str, rate: float = 20.0) -> "SymbolSpec":
        sym = symbol.upper()
        price, tick, step = _DEFAULT_SPECS.get(sym, ("100.00", "0.01", "0.001"))
        return cls(symbol=sym, price=price, tick_size=tick, step_size=step, rate=rate)


@dataclass
class FaultDefaults:
    """Faults armed at startup (CLI flags); same fields as faults.FaultSpec."""

    spec: dict = field(default_factory=dict)


@dataclass
class SimConfig:
    """Everything the server needs.  ``port=0`` binds an ephemeral port."""

    host: str = "127.0.0.1"
    port: int = 0
    control_token: str | None = None  # required on /_sim when set (binance_sim/control_auth.py)
    symbols: list[SymbolSpec] = field(
        default_factory=lambda: [SymbolSpec.default("BTCUSDT"), SymbolSpec.default("ETHUSDT")]
    )
    seed: int = 1
    # added to the first trade / aggTrade / depth update id; see clock_id_base()
    id_base: int = 0
    step_ms: int = 20  # market engine step; must divide 100
    correlation: float = 0.6  # one-factor correlation of log-returns across symbols
    jump_rate_per_hour: float = 6.0
    jump_size: float = 0.004  # std-dev of log jump
    book_levels: int = 200  # price levels kept per side
    history_s: int = 3600  # trades/aggTrades/klines kept for REST
    ticker_window_s: int = 86_400  # rolling 24 h ticker window
    # websocket behaviour (Binance values; tests shorten them)
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    max_incoming_per_s: int = 5
    max_streams: int = 1024
    max_lifetime_s: float = 86_400.0
    max_write_buffer: int = 64 * 1024 * 1024  # slow consumer -> disconnected
    invalid_url_stream: str = "reject"  # "reject" (HTTP 400) | "ignore"
    # REST
    weight_limit_1m: int = 6000
    raw_requests_limit_5m: int = 300_000
    # replay mode (no synthetic market when set)
    replay_file: str | None = None
    replay_speed: float = 1.0  # 0 = as fast as possible
    replay_loop: bool = False
    replay_wait_for_client: bool = False  # start playing at the first subscription
    faults: dict = field(default_factory=dict)  # armed for every new connection
    # TLS (wss:// + https:// on the same port, like the real exchange); see binance_sim/tls.py
    tls_cert: str | None = None
    tls_key: str | None = None

    def __post_init__(self) -> None:
        if 100 % self.step_ms:
            raise ValueError("step_ms must divide 100")
        self.symbols = [s if isinstance(s, SymbolSpec) else SymbolSpec.default(s) for s in self.symbols]
        names = [s.symbol for s in self.symbols]
        if len(set(names)) != len(names):
            raise ValueError("duplicate symbols")

    def spec(self, symbol: str) -> SymbolSpec | None:
        for s in self.symbols:
            if s.symbol == symbol:
                return s
        return None


def clock_id_base(now_ms: int | None = None) -> int:
    """An id base from the wall clock (10 ids per ms): a restarted simulator continues above every id
    it issued before, for rates up to 10,000 trades/s per symbol, so a consumer never sees ids regress."""
    import time

    return 10 * (int(time.time() * 1000) if now_ms is None else now_ms)
