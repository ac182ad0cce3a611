"""config/portfolio.yaml: portfolios (opening holdings and cash, then a ledger of dated buys, sells, deposits and
withdrawals) for gold_portfolio. Errors name the file, the entry and the offending value, like symbols.py.

Quantities, prices and amounts are exact decimals (YAML numbers or strings); the ledger is replayed at load time
so an impossible ledger (selling more than is held, withdrawing or spending more cash than there is) is refused
before any gold run starts, with the event that breaks it."""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.settings import ROOT, SettingsError, read_yaml_mapping

PORTFOLIO_FILE = ROOT / "config" / "portfolio.yaml"
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
INTERVALS = ("1m", "5m", "15m", "1h", "4h", "1d")


def _ms(v: datetime) -> int:
    if v.tzinfo is None:
        raise ValueError("time needs a time zone (e.g. 2024-01-01T00:00:00Z)")
    return int(v.astimezone(timezone.utc).timestamp() * 1000)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _symbol(v: str) -> str:
    if not _SYMBOL_RE.match(v):
        raise ValueError("symbol must be upper case letters/digits, 2-20 chars (e.g. BTCUSDT)")
    return v


class Holding(_Strict):
    symbol: str
    quantity: Decimal = Field(gt=0)
    avg_cost: Decimal = Field(gt=0, description="average cost per unit, in the quote asset")

    _s = field_validator("symbol")(classmethod(lambda cls, v: _symbol(v)))


class LedgerEvent(_Strict):
    time: datetime
    type: Literal["buy", "sell", "deposit", "withdrawal"]
    symbol: str | None = None
    quantity: Decimal | None = Field(default=None, gt=0)
    price: Decimal | None = Field(default=None, gt=0)
    amount: Decimal | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _shape(self) -> "LedgerEvent":
        _ms(self.time)
        if self.type in ("buy", "sell"):
            if self.symbol is None or self.quantity is None or self.price is None or self.amount is not None:
                raise ValueError(f"a {self.type} needs symbol, quantity and price (no amount)")
            _symbol(self.symbol)
        elif self.amount is None or self.symbol or self.quantity or self.price:
            raise ValueError(f"a {self.type} needs amount only")
        return self

    @property
    def time_ms(self) -> int:
        return _ms(self.time)


class Portfolio(_Strict):
    name: str
    start: datetime = Field(description="the opening holdings and cash are as of this time")
    cash: Decimal = Field(default=Decimal(0), ge=0)
    holdings: list[Holding] = []
    ledger: list[LedgerEvent] = []
    intervals: list[str] = Field(default=list(INTERVALS))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError("name must be lower case letters, digits, '-' or '_' (e.g. core)")
        return v

    @field_validator("intervals")
    @classmethod
    def _intervals(cls, v: list[str]) -> list[str]:
        bad = [i for i in v if i not in INTERVALS]
        if bad or not v:
            raise ValueError(f"unknown interval {bad[0] if bad else '(none)'!r}; valid: {', '.join(INTERVALS)}")
        return v

    @property
    def start_ms(self) -> int:
        return _ms(self.start)

    def symbols(self) -> list[str]:
        return sorted({h.symbol for h in self.holdings} | {e.symbol for e in self.ledger if e.symbol})

    def events(self) -> list[tuple[int, LedgerEvent]]:
        """(index in the file, event) ordered by time (stable: same-time events keep the file's order)."""
        return sorted(enumerate(self.ledger), key=lambda ie: ie[1].time_ms)

    @model_validator(mode="after")
    def _replay(self) -> "Portfolio":
        start = _ms(self.start)
        held = {}
        for h in self.holdings:
            if h.symbol in held:
                raise ValueError(f"holdings: {h.symbol} is listed twice")
            held[h.symbol] = h.quantity
        cash = self.cash
        for i, e in self.events():
            where = f"ledger[{i}] ({e.type} at {e.time.isoformat()})"
            if e.time_ms < start:
                raise ValueError(f"{where}: before the portfolio's start {self.start.isoformat()}")
            if e.type == "deposit":
                cash += e.amount
            elif e.type == "withdrawal":
                if e.amount > cash:
                    raise ValueError(f"{where}: withdraws {e.amount} but the cash is {cash}")
                cash -= e.amount
            elif e.type == "buy":
                cost = e.quantity * e.price
                if cost > cash:
                    raise ValueError(f"{where}: buys {e.quantity} {e.symbol} for {cost} but the cash is {cash}")
                cash -= cost
                held[e.symbol] = held.get(e.symbol, Decimal(0)) + e.quantity
            else:
                have = held.get(e.symbol, Decimal(0))
                if e.quantity > have:
                    raise ValueError(f"{where}: sells {e.quantity} {e.symbol} but only {have} is held")
                held[e.symbol] = have - e.quantity
                cash += e.quantity * e.price
        return self


class PortfolioFile(_Strict):
    version: int = 1
    portfolios: list[Portfolio] = []

    @model_validator(mode="after")
    def _unique(self) -> "PortfolioFile":
        names = [p.name for p in self.portfolios]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"portfolio name {dup!r} is used twice")
        return self


def _where(raw: dict, loc: tuple) -> str:
    """'portfolios[0] (core) field 'ledger.2.quantity'' for errors inside a portfolio, else the dotted path."""
    if len(loc) >= 2 and loc[0] == "portfolios" and isinstance(loc[1], int):
        try:
            name = raw["portfolios"][loc[1]].get("name", "?")
        except (KeyError, IndexError, TypeError, AttributeError):
            name = "?"
        rest = ".".join(str(p) for p in loc[2:])
        return f"portfolios[{loc[1]}] ({name})" + (f" field '{rest}'" if rest else "")
    return "field '" + ".".join(str(p) for p in loc) + "'"


def load_portfolios(path: Path | None = None) -> PortfolioFile:
    """Parse and validate (``PORTFOLIO_FILE`` env overrides the path; a missing file = no portfolios).
    Raises SettingsError naming the file, the entry, the field and the value."""
    path = Path(path or os.environ.get("PORTFOLIO_FILE") or PORTFOLIO_FILE)
    if not path.exists():
        return PortfolioFile()
    raw = read_yaml_mapping(path)
    try:
        return PortfolioFile.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            value = err.get("input")
            shown = "" if isinstance(value, dict) else f" = {value!r}"
            lines.append(f"{path}: {_where(raw, err['loc'])}{shown}: {msg}" if err["loc"] else f"{path}: {msg}")
        raise SettingsError("\n".join(lines)) from None
