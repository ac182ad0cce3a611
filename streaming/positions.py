"""The local positions file: per backfillable stream, the last id Kafka *confirmed* and the ids it failed.

Why: after a restart, positions normally come from the tail of each topic (``streaming/resume.py``). When
that cannot be established (Kafka unreadable at start, or a stream silent for longer than the scanned tail),
the file still says where the stream was, so the downtime is a gap that is backfilled instead of a silent
fresh start. "Confirmed" ids come from delivery reports (a marked record per stream every
``kafka.mark_interval_s``; per partition Kafka acknowledges in order, so everything before the marked record
is delivered or in the ledger). Written atomically (temp file + rename) every few seconds and at stop."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("streaming.positions")


def save_positions(path: Path, streams: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps({"written_ms": int(time.time() * 1000), "streams": streams},
                                 option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def load_positions(path: Path) -> dict[str, dict[str, Any]]:
    """{stream: {"delivered": id | [t, E, closed], "undelivered": [[lo, hi], ...], "since_ms": int}}; {} when
    there is no file. A corrupt file is reported (and ignored: Kafka stays the first source)."""
    try:
        data = orjson.loads(path.read_bytes())
        streams = data["streams"]
        if not isinstance(streams, dict):
            raise TypeError("streams is not a mapping")
        return streams
    except FileNotFoundError:
        return {}
    except Exception as e:  # noqa: BLE001
        log.error("positions file unreadable; ignoring it", extra={"file": str(path), "error": repr(e)[:300]})
        return {}
