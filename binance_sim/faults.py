"""Fault injection, armed per connection from tests, the CLI or over HTTP.

Why a separate module: the hot path only checks ``conn.faults is None``; all
the per-message logic (drop/stall/skip/duplicate/reorder/malformed) lives in
:meth:`FaultState.process`, which is used only on connections that asked for
trouble.  :class:`FaultController` holds what is armed for the *next*
connections, for all new connections, for REST requests and the refuse
window; :class:`SimControl` is the tiny stdlib client a test in another
process uses to arm faults through the ``/_sim/...`` endpoints.
"""
from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import asdict, dataclass, fields
from typing import Any

import orjson

MALFORMED_KINDS = ("invalid_json", "wrong_types", "missing_fields", "unknown_event", "oversized")


@dataclass
class FaultSpec:
    """Faults for one connection.  Message counts refer to data frames."""

    drop_after_messages: int | None = None  # abort the TCP connection after N frames
    drop_after_s: float | None = None  # ... or after this many seconds
    drop_mode: str = "abort"  # "abort" (no close frame) | "close" (close frame 1011)
    stall_after_messages: int | None = None  # then no data and no pings
    stall_after_s: float | None = None
    stall_for_s: float | None = None  # None = until the client gives up
    malformed: str | None = None  # one of MALFORMED_KINDS
    malformed_after: int = 0  # inject after this many frames
    malformed_count: int = 1
    skip_every: int = 0  # silently drop every Nth frame (id / U gaps)
    duplicate_every: int = 0  # send every Nth frame twice
    reorder_every: int = 0  # swap every Nth frame with the following one
    oversized_bytes: int = 2 * 1024 * 1024

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FaultSpec":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}; valid: {sorted(names)}")
        spec = cls(**d)
        if spec.malformed is not None and spec.malformed not in MALFORMED_KINDS:
            raise ValueError(f"malformed must be one of {MALFORMED_KINDS}")
        if spec.drop_mode not in ("abort", "close"):
            raise ValueError("drop_mode must be 'abort' or 'close'")
        return spec

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, 0) or k == "drop_mode"}


def _payload(frame: bytes) -> bytes:
    n = frame[1] & 0x7F
    return frame[2:] if n < 126 else frame[4:] if n == 126 else frame[10:]


def malformed_payload(kind: str, sample: bytes, now_ms: int, size: int) -> bytes:
    """A bad frame payload derived from a real one (``sample``)."""
    if kind == "invalid_json":
        return sample[: max(1, len(sample) // 2)]
    if kind == "unknown_event":
        return orjson.dumps({"e": "simUnknownEvent", "E": now_ms, "s": "SIMULATOR"})
    if kind == "oversized":
        pad = max(0, size - 64)
        return b'{"e":"trade","E":' + str(now_ms).encode() + b',"pad":"' + b"x" * pad + b'"}'
    try:
        obj = orjson.loads(sample)
    except orjson.JSONDecodeError:
        obj = {"e": "trade", "t": 1, "p": "1.0"}
    inner = obj["data"] if isinstance(obj, dict) and isinstance(obj.get("data"), dict) else obj
    if isinstance(inner, dict):
        if kind == "wrong_types":
            for k, v in list(inner.items()):
                if isinstance(v, bool):
                    inner[k] = "yes" if v else "no"
                elif isinstance(v, int):
                    inner[k] = str(v)
                elif isinstance(v, str):
                    try:
                        inner[k] = float(v)
                    except ValueError:
                        inner[k] = 12345
        else:  # missing_fields
            for k in list(inner)[1::2]:
                del inner[k]
    return orjson.dumps(obj)


class FaultState:
    """Runtime state of the faults applied to one connection."""

    def __init__(self, spec: FaultSpec, now: float) -> None:
        self.spec = spec
        self.start = now
        self.sent = 0  # data frames handed to the socket (incl. duplicates)
        self.seen = 0  # data frames offered by the publisher
        self.stalled_until: float | None = None
        self.malformed_left = spec.malformed_count if spec.malformed else 0
        self.held: bytes | None = None  # frame waiting to be swapped (reorder)
        self.drop_now = False

    def check_time(self, now: float) -> None:
        s = self.spec
        if s.drop_after_s is not None and now - self.start >= s.drop_after_s:
            self.drop_now = True
        if s.stall_after_s is not None and self.stalled_until is None and now - self.start >= s.stall_after_s:
            self._stall(now)

    def _stall(self, now: float) -> None:
        dur = self.spec.stall_for_s
        self.stalled_until = float("inf") if dur is None else now + dur

    def stalled(self, now: float) -> bool:
        return self.stalled_until is not None and now < self.stalled_until

    def process(self, frames: list[bytes], now: float, now_ms: int, frame_fn) -> list[bytes]:
        """Turn the outbox into what is really written (may set ``drop_now``)."""
        s = self.spec
        self.check_time(now)
        out: list[bytes] = []
        for f in frames:
            if self.drop_now or self.stalled(now):
                break
            self.seen += 1
            if s.skip_every and self.seen % s.skip_every == 0:
                continue
            if self.malformed_left and self.seen > s.malformed_after:
                self.malformed_left -= 1
                out.append(frame_fn(malformed_payload(s.malformed, _payload(f), now_ms, s.oversized_bytes)))
            if s.reorder_every and self.held is None and self.seen % s.reorder_every == 0:
                self.held = f
                continue
            out.append(f)
            if self.held is not None and self.held is not f:
                out.append(self.held)
                self.held = None
            if s.duplicate_every and self.seen % s.duplicate_every == 0:
                out.append(f)
            if s.drop_after_messages is not None and self.sent + len(out) >= s.drop_after_messages:
                out = out[: max(0, s.drop_after_messages - self.sent)]
                self.drop_now = True
            if s.stall_after_messages is not None and self.stalled_until is None \
                    and self.sent + len(out) >= s.stall_after_messages:
                self._stall(now)
        self.sent += len(out)
        return out


class FaultController:
    """Server-wide fault switchboard (what ``/_sim/...`` manipulates)."""

    def __init__(self, default: dict | None = None) -> None:
        self.default: FaultSpec | None = FaultSpec.from_dict(default) if default else None
        self.next_specs: list[FaultSpec] = []
        self.refuse_until = 0.0
        self.refuse_count = 0
        self.refuse_status = 503
        self.rest_faults: list[dict] = []  # {"status", "count", "retry_after", "path"}
        self.stale_depth: dict[str, int] = {}  # symbol -> remaining stale replies
        self.stale_snapshots: dict[str, dict] = {}

    def reset(self) -> None:
        self.__init__()

    def arm_next(self, spec: FaultSpec, count: int = 1) -> None:
        self.next_specs.extend([spec] * count)

    def take_for_new_connection(self) -> FaultSpec | None:
        if self.next_specs:
            return self.next_specs.pop(0)
        return self.default

    def refuse(self, seconds: float = 0.0, count: int = 0, status: int = 503) -> None:
        self.refuse_until = time.monotonic() + seconds if seconds else 0.0
        self.refuse_count = count
        self.refuse_status = status

    def should_refuse(self) -> int | None:
        if self.refuse_count > 0:
            self.refuse_count -= 1
            return self.refuse_status
        if time.monotonic() < self.refuse_until:
            return self.refuse_status
        return None

    def arm_rest(self, status: int, count: int = 1, retry_after: int = 1, path: str = "") -> None:
        self.rest_faults.append({"status": status, "count": count, "retry_after": retry_after, "path": path})

    def take_rest(self, path: str) -> dict | None:
        for f in self.rest_faults:
            if path.startswith(f["path"] or "/api/") and f["count"] > 0:
                f["count"] -= 1
                if f["count"] == 0:
                    self.rest_faults.remove(f)
                return f
        return None


class SimControl:
    """Blocking client of the ``/_sim`` control API (usable from any process)."""

    def __init__(self, rest_url: str, timeout: float = 5.0, token: str | None = None) -> None:
        self.base = rest_url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json"}
        if token:  # a simulator started with SIMULATOR_CONTROL_TOKEN (the deploy stack) wants it
            self.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=self.headers)
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            return json.loads(resp.read() or b"null")

    def status(self) -> dict:
        return self._call("GET", "/_sim/status")

    def arm_next(self, count: int = 1, **spec: Any) -> dict:
        return self._call("POST", "/_sim/faults/next", {"count": count, **spec})

    def set_default(self, **spec: Any) -> dict:
        return self._call("POST", "/_sim/faults/default", spec)

    def arm_connection(self, conn_id: int, **spec: Any) -> dict:
        return self._call("POST", f"/_sim/connections/{conn_id}/faults", spec)

    def refuse(self, seconds: float = 0.0, count: int = 0, status: int = 503) -> dict:
        return self._call("POST", "/_sim/refuse", {"seconds": seconds, "count": count, "status": status})

    def rest_fault(self, status: int, count: int = 1, retry_after: int = 1, path: str = "") -> dict:
        return self._call("POST", "/_sim/rest_fault",
                          {"status": status, "count": count, "retry_after": retry_after, "path": path})

    def stale_depth(self, symbol: str, count: int = 1) -> dict:
        return self._call("POST", "/_sim/stale_depth", {"symbol": symbol, "count": count})

    def server_shutdown_event(self, close: bool = False) -> dict:
        return self._call("POST", "/_sim/server_shutdown", {"close": close})

    def disconnect_all(self, code: int = 1001) -> dict:
        return self._call("POST", "/_sim/disconnect_all", {"code": code})

    def reset(self) -> dict:
        return self._call("POST", "/_sim/reset", {})
