"""Live control messages of the websocket streams (spec §1.6).

Pure functions over a small connection-state protocol so every reply and
error code can be unit-tested without a socket.  Replies use the nested error
form ``{"error":{"code":..,"msg":..},"id":..}`` as the spec recommends.
"""
from __future__ import annotations

import re
from typing import Any, Protocol

import orjson

from .streams import parse_stream

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
# docs: "alphanumeric, at most 36"; the official Python SDK sends str(uuid4()) (hyphens) and the exchange
# accepts it, so hyphens are allowed too (spec §1.6)
_ID_STR = re.compile(r"^[A-Za-z0-9-]{1,36}$")
_MISSING = object()


class ConnState(Protocol):
    combined: bool
    max_streams: int

    def subscriptions(self) -> list[str]: ...
    def add_streams(self, names: list[str]) -> None: ...
    def remove_streams(self, names: list[str]) -> None: ...
    def set_combined(self, value: bool) -> None: ...


def err(code: int, msg: str, req_id: Any = None) -> dict:
    return {"error": {"code": code, "msg": msg}, "id": req_id}


def _valid_id(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return -(2**63) <= v < 2**63
    return isinstance(v, str) and bool(_ID_STR.match(v))


def handle(state: ConnState, text: str | bytes) -> dict:
    """Apply one control message to ``state``; returns the reply object."""
    raw = text.encode() if isinstance(text, str) else text
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return err(3, f"Invalid JSON: expected value at line {e.lineno} column {e.colno}")
    if not isinstance(msg, dict):
        return err(2, "Invalid request: expected a JSON object")
    req_id = msg.get("id", _MISSING)
    if "method" not in msg:
        return err(2, f"Invalid request: missing field `method` at line 1 column {len(raw)}",
                   None if req_id is _MISSING else req_id)
    if req_id is _MISSING or not _valid_id(req_id):
        return err(2, "Invalid request: request ID must be an unsigned integer")
    method = msg["method"]
    if method not in METHODS:
        shown = method if isinstance(method, str) else orjson.dumps(method).decode()
        col = raw.find(orjson.dumps(method)) + len(orjson.dumps(method))
        return err(2, f"Invalid request: unknown variant `{shown}`, expected one of `SUBSCRIBE`, "
                      "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` "
                      f"at line 1 column {max(col, 1)}", req_id)
    params = msg.get("params", [])
    if not isinstance(params, list):
        return err(2, "Invalid request: params must be an array", req_id)

    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if any(parse_stream(p) is None for p in params):
            return err(2, "Invalid request: invalid stream", req_id)
        if method == "SUBSCRIBE":
            new = [p for p in dict.fromkeys(params) if p not in set(state.subscriptions())]
            if len(state.subscriptions()) + len(new) > state.max_streams:
                return err(2, f"Invalid request: too many streams (max {state.max_streams} per connection)", req_id)
            state.add_streams(new)
        else:
            state.remove_streams(params)
        return {"result": None, "id": req_id}
    if method == "LIST_SUBSCRIPTIONS":
        if params:
            return err(2, "Invalid request: too many parameters", req_id)
        return {"result": state.subscriptions(), "id": req_id}
    # SET_PROPERTY / GET_PROPERTY
    want = 2 if method == "SET_PROPERTY" else 1
    if len(params) > want:
        return err(2, "Invalid request: too many parameters", req_id)
    if not params or not isinstance(params[0], str):
        return err(2, "Invalid request: property name must be a string", req_id)
    if params[0] != "combined":
        return err(0, "Unknown property", req_id)
    if method == "GET_PROPERTY":
        return {"result": state.combined, "id": req_id}
    if len(params) < 2 or not isinstance(params[1], bool):
        return err(1, "Invalid value type: expected Boolean", req_id)
    state.set_combined(params[1])
    return {"result": None, "id": req_id}
