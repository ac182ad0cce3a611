"""The Kafka record contract between the streaming service and the bronze layer (ARCHITECTURE.md
"Data contracts"): topic names, message key, envelope fields, the ``source`` enum and the DLQ record.

Why one module: the producer (streaming/) and the consumers (bronze assets) must agree byte for byte;
changing a field name or bumping the schema version happens here and nowhere else.

Envelope (value of every message in ``crypto_raw_<symbol>``), JSON object, keys in this order::

    {"schema_version": 1, "source": "binance", "exchange": "binance", "stream": "btcusdt@trade",
     "symbol": "BTCUSDT", "event_type": "trade", "event_time_ms": 1752572415240,
     "ingest_time_ms": 1752572415243, "payload": {...untouched exchange payload...}}

* ``payload`` is the exchange's ``data`` object byte for byte (not re-serialised) for live frames.
  For ``source == "rest_backfill"`` there is no stream frame: the REST row is mapped to the shape of
  the stream event (same keys and JSON types, see streaming/backfill.py), so one parser serves both.
* ``event_time_ms`` is the payload's ``E`` (null for streams without one: partial depth, bookTicker).
* message key = stream name (``btcusdt@trade``) so every stream stays ordered in one partition.
"""
from __future__ import annotations

import base64
from enum import Enum
from typing import Any

import orjson

SCHEMA_VERSION = 1
EXCHANGE = "binance"
TOPIC_PREFIX = "crypto_raw_"
DLQ_TOPIC = "crypto_dlq"


class Source(str, Enum):
    """Where a record came from; travels with every record up to the dashboard."""

    BINANCE = "binance"
    SIMULATOR = "simulator"
    REST_BACKFILL = "rest_backfill"
    REPLAY = "replay"


# field names (the consumers import these instead of spelling strings)
F_SCHEMA_VERSION = "schema_version"
F_SOURCE = "source"
F_EXCHANGE = "exchange"
F_STREAM = "stream"
F_SYMBOL = "symbol"
F_EVENT_TYPE = "event_type"
F_EVENT_TIME = "event_time_ms"
F_INGEST_TIME = "ingest_time_ms"
F_PAYLOAD = "payload"
ENVELOPE_FIELDS = (F_SCHEMA_VERSION, F_SOURCE, F_EXCHANGE, F_STREAM, F_SYMBOL, F_EVENT_TYPE, F_EVENT_TIME,
                   F_INGEST_TIME, F_PAYLOAD)

# DLQ record fields
DLQ_FIELDS = ("schema_version", "reason", "detail", "source", "stream", "symbol", "ingest_time_ms",
              "raw_size", "raw_truncated", "raw_b64")


def topic_for(symbol: str) -> str:
    return TOPIC_PREFIX + symbol.lower()


def event_type_for(stream: str, payload: Any) -> str:
    """``e`` of the payload, or a stable name for streams without one (partial depth, bookTicker)."""
    if isinstance(payload, dict):
        e = payload.get("e")
        if isinstance(e, str):
            return e
    kind = stream.split("@", 1)[1] if "@" in stream else stream
    if kind.startswith("depth"):
        return "depthPartial" if kind[5:7].isdigit() or kind[5:6].isdigit() else "depthUpdate"
    if kind == "bookTicker":
        return "bookTicker"
    return kind


class EnvelopePrefix:
    """Pre-built JSON prefix of one (stream, source): the hot path only appends two ints and the raw
    payload, so no per-message dict is built or serialised."""

    __slots__ = ("head", "source", "stream", "symbol", "event_type", "key", "topic")

    def __init__(self, stream: str, symbol: str, event_type: str, source: Source) -> None:
        self.stream, self.symbol, self.event_type, self.source = stream, symbol, event_type, source
        self.key = stream.encode()
        self.topic = topic_for(symbol)
        self.head = (b'{"schema_version":' + str(SCHEMA_VERSION).encode()
                     + b',"source":' + orjson.dumps(source.value)
                     + b',"exchange":' + orjson.dumps(EXCHANGE)
                     + b',"stream":' + orjson.dumps(stream)
                     + b',"symbol":' + orjson.dumps(symbol)
                     + b',"event_type":' + orjson.dumps(event_type)
                     + b',"event_time_ms":')

    def build(self, event_time_ms: int | None, ingest_time_ms: int, raw_payload: bytes) -> bytes:
        et = b"null" if event_time_ms is None else str(event_time_ms).encode()
        return b"".join((self.head, et, b',"ingest_time_ms":', str(ingest_time_ms).encode(),
                         b',"payload":', raw_payload, b"}"))


def build_envelope(stream: str, symbol: str, source: Source, payload: Any, ingest_time_ms: int,
                   raw_payload: bytes | None = None) -> bytes:
    """Convenience (non hot path): one envelope from a payload object or its raw bytes."""
    raw = raw_payload if raw_payload is not None else orjson.dumps(payload)
    et = payload.get("E") if isinstance(payload, dict) else None
    prefix = EnvelopePrefix(stream, symbol, event_type_for(stream, payload), source)
    return prefix.build(et if isinstance(et, int) else None, ingest_time_ms, raw)


def parse_envelope(value: bytes) -> dict[str, Any]:
    """Decode and check an envelope (for consumers and tests); raises ValueError when it breaks the contract."""
    obj = orjson.loads(value)
    if not isinstance(obj, dict):
        raise ValueError("envelope is not a JSON object")
    missing = [f for f in ENVELOPE_FIELDS if f not in obj]
    if missing:
        raise ValueError(f"envelope misses {missing}")
    if obj[F_SCHEMA_VERSION] != SCHEMA_VERSION:
        raise ValueError(f"unsupported schema_version {obj[F_SCHEMA_VERSION]!r}")
    Source(obj[F_SOURCE])  # raises ValueError on an unknown source
    return obj


def build_dlq(reason: str, detail: str, raw: bytes, source: Source, ingest_time_ms: int,
              stream: str | None = None, symbol: str | None = None, max_raw: int = 256 * 1024) -> bytes:
    """A DLQ record: the reason plus the raw bytes (base64, truncated to ``max_raw`` so an oversized
    frame cannot make the DLQ record itself too large for the broker)."""
    truncated = len(raw) > max_raw
    return orjson.dumps({
        "schema_version": SCHEMA_VERSION, "reason": reason, "detail": detail[:1000], "source": source.value,
        "stream": stream, "symbol": symbol, "ingest_time_ms": ingest_time_ms, "raw_size": len(raw),
        "raw_truncated": truncated, "raw_b64": base64.b64encode(raw[:max_raw]).decode(),
    })
