"""Symbol manager: config/symbols.yaml (tiers, per-symbol enabled/priority/streams) plus the
``ACTIVE_SYMBOLS`` environment override.

Why here (not in streaming/): the bronze layer and the dashboard need the same list of symbols and
streams the ingest service subscribes to. Adding a symbol = edit the YAML and restart, no code change.
Errors name the file, the entry and the offending value, like shared/settings.py.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.settings import ROOT, SettingsError, read_yaml_mapping

SYMBOLS_FILE = ROOT / "config" / "symbols.yaml"

KLINE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
_STREAM_RE = re.compile(
    r"^(trade|aggTrade|ticker|miniTicker|bookTicker|kline_(" + "|".join(KLINE_INTERVALS) + r")"
    r"|depth(5|10|20)(@100ms)?|depth(@100ms)?)$")
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")
STREAM_HELP = ("trade, aggTrade, ticker, miniTicker, bookTicker, kline_<interval> (" + ", ".join(KLINE_INTERVALS)
               + "), depth5/depth10/depth20 (optionally @100ms), depth/depth@100ms (diff)")


def _check_streams(v: list[str]) -> list[str]:
    bad = [s for s in v if not isinstance(s, str) or not _STREAM_RE.match(s)]
    if bad:
        raise ValueError(f"unknown stream {bad[0]!r}; valid: {STREAM_HELP}")
    if len(set(v)) != len(v):
        raise ValueError(f"duplicate streams in {v}")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    description: str = ""
    priority: int = Field(default=5, ge=1, le=100)
    streams: list[str] = Field(min_length=1)

    _v = field_validator("streams")(classmethod(lambda cls, v: _check_streams(v)))


class SymbolEntry(_Strict):
    symbol: str
    tier: str
    enabled: bool = True
    priority: int | None = Field(default=None, ge=1, le=100)  # None -> the tier's priority (1 = first)
    streams: list[str] | None = None                          # None -> the tier's streams

    @field_validator("symbol")
    @classmethod
    def _sym(cls, v: str) -> str:
        if not _SYMBOL_RE.match(v):
            raise ValueError("symbol must be upper case letters/digits, 2-20 chars (e.g. BTCUSDT)")
        return v

    _v = field_validator("streams")(classmethod(lambda cls, v: v if v is None else _check_streams(v)))


class TopicDefaults(_Strict):
    partitions: int = Field(default=3, ge=1, le=1000)
    replication_factor: int = Field(default=1, ge=1, le=5)
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=-1)
    compression: str = Field(default="lz4", pattern=r"^(lz4|zstd|snappy|gzip|producer|uncompressed)$")


class SymbolsFile(_Strict):
    version: int = 1
    default_tier: str
    topics: TopicDefaults = TopicDefaults()
    tiers: dict[str, Tier] = Field(min_length=1)
    symbols: list[SymbolEntry]

    @model_validator(mode="after")
    def _refs(self) -> "SymbolsFile":
        if self.default_tier not in self.tiers:
            raise ValueError(f"default_tier {self.default_tier!r} is not one of the tiers {sorted(self.tiers)}")
        seen: set[str] = set()
        for i, s in enumerate(self.symbols):
            if s.tier not in self.tiers:
                raise ValueError(f"symbols[{i}] ({s.symbol}): tier {s.tier!r} is not one of {sorted(self.tiers)}")
            if s.symbol in seen:
                raise ValueError(f"symbols[{i}] ({s.symbol}): duplicate symbol")
            seen.add(s.symbol)
        return self


class ActiveSymbol(BaseModel):
    """One symbol the service ingests, with its streams resolved (tier defaults applied)."""

    model_config = ConfigDict(frozen=True)
    symbol: str
    tier: str
    priority: int
    streams: tuple[str, ...]

    @property
    def stream_names(self) -> list[str]:
        """Binance stream names: lower-case symbol + '@' + stream type (``btcusdt@kline_1m``)."""
        low = self.symbol.lower()
        return [f"{low}@{s}" for s in self.streams]


class SymbolConfig(BaseModel):
    model_config = ConfigDict(frozen=True)
    path: str
    topics: TopicDefaults
    active: tuple[ActiveSymbol, ...]
    override: str | None = None

    def by_symbol(self) -> dict[str, ActiveSymbol]:
        return {a.symbol: a for a in self.active}


def _entry_name(raw: dict, loc: tuple) -> str:
    """'symbols[2] (DOGEUSDT)' for errors inside a symbol entry, else the dotted path."""
    if len(loc) >= 2 and loc[0] == "symbols" and isinstance(loc[1], int):
        try:
            sym = raw["symbols"][loc[1]].get("symbol", "?")
        except (KeyError, IndexError, TypeError, AttributeError):
            sym = "?"
        rest = ".".join(str(p) for p in loc[2:])
        return f"symbols[{loc[1]}] ({sym})" + (f" field '{rest}'" if rest else "")
    return "field '" + ".".join(str(p) for p in loc) + "'"


def load_symbols(path: Path = SYMBOLS_FILE, env: dict[str, str] | None = None) -> SymbolConfig:
    """Parse and validate the file, then apply ``ACTIVE_SYMBOLS`` (comma list: exactly these symbols are
    active; symbols absent from the file get the default tier). Raises SettingsError."""
    env = os.environ if env is None else env
    raw = read_yaml_mapping(path)
    try:
        cfg = SymbolsFile.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if not err["loc"]:  # cross-field check: the message names the entry and value itself
                lines.append(f"{path}: {msg}")
            else:
                lines.append(f"{path}: {_entry_name(raw, err['loc'])} = {err.get('input')!r}: {msg}")
        raise SettingsError("\n".join(lines)) from None

    entries = {s.symbol: s for s in cfg.symbols}
    override = env.get("ACTIVE_SYMBOLS", "").strip() or None
    if override:
        wanted = [s.strip().upper() for s in override.split(",") if s.strip()]
        bad = [s for s in wanted if not _SYMBOL_RE.match(s)]
        if bad:
            raise SettingsError(f"ACTIVE_SYMBOLS (env, over {path}): entry {bad[0]!r}: "
                                "symbol must be upper case letters/digits, 2-20 chars")
        chosen = [entries.get(s) or SymbolEntry(symbol=s, tier=cfg.default_tier) for s in dict.fromkeys(wanted)]
    else:
        chosen = [s for s in cfg.symbols if s.enabled]
    active = []
    for s in chosen:
        tier = cfg.tiers[s.tier]
        active.append(ActiveSymbol(symbol=s.symbol, tier=s.tier, priority=s.priority or tier.priority,
                                   streams=tuple(s.streams or tier.streams)))
    active.sort(key=lambda a: (a.priority, a.symbol))
    return SymbolConfig(path=str(path), topics=cfg.topics, active=tuple(active), override=override)


def simulated_symbols(path: Path = SYMBOLS_FILE, env: dict[str, str] | None = None) -> list[str]:
    """Every symbol the file lists (enabled or not) plus the active ones: what a simulator standing in for
    the exchange must serve, so enabling a symbol needs only a consumer restart."""
    active = load_symbols(path, env)  # validates, with its precise errors
    raw = read_yaml_mapping(path)
    listed = [s.symbol for s in SymbolsFile.model_validate(raw).symbols]
    return list(dict.fromkeys(listed + [a.symbol for a in active.active]))
