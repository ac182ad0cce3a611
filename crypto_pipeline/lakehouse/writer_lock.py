"""One writer per bronze table, across processes: a PostgreSQL advisory lock per (bucket, table), held from
the plan of a write (reading the table's checkpoint) to its Hudi commit.

Why a lock around plan-and-commit and not only Hudi's lock provider: bronze *inserts* (dense ids checked
against the committed ranges, rising keys against the committed marks), and two writers that planned from
the same checkpoint would both insert the same rows into new file groups — Hudi's optimistic concurrency
sees no conflicting file group and commits both. Holding the table's lock while planning and writing
makes the second writer plan from the first one's commit. Why PostgreSQL: every writer (the bronze-writer
service, a Dagster run launched from the UI, the CLI) already reaches the stack's PostgreSQL, the lock
dies with the holder's connection (a SIGKILLed writer never leaves it behind), and waiters are served in
order, so a manual run waits for at most one writer cycle."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CLUSTERING = "clustering"   # lock name suffix of a table's clustering (one clusterer at a time)


def lock_key(bucket: str, name: str) -> int:
    """The advisory-lock key (a signed 64-bit int) of ``name`` in ``bucket``: stable across processes."""
    return int.from_bytes(hashlib.sha1(f"bronze:{bucket}:{name}".encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class TableLocks:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    bucket: str
    application: str = "bronze-writer"

    @classmethod
    def from_env(cls, bucket: str, application: str = "bronze-writer") -> "TableLocks":
        """From the connection variables every stack process that writes bronze gets (infra/services.py)."""
        missing = [k for k in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD",
                               "DAGSTER_PG_DB") if not os.environ.get(k)]
        if missing:
            raise KeyError(f"bronze table locks need {', '.join(missing)} (set by the deploy stack from .env)")
        return cls(os.environ["DAGSTER_PG_HOST"], int(os.environ["DAGSTER_PG_PORT"]), os.environ["DAGSTER_PG_USERNAME"],
                   os.environ["DAGSTER_PG_PASSWORD"], os.environ["DAGSTER_PG_DB"], bucket, application)

    def _connect(self):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               dbname=self.dbname, autocommit=True, connect_timeout=10,
                               application_name=self.application)

    @contextmanager
    def hold(self, names: Iterable[str], wait: bool = True) -> Iterator[bool]:
        """Hold the locks of ``names`` (table names, or ``<table>:clustering``) for the block. Locks are taken
        in sorted order on one connection of their own (no deadlock between writers of overlapping sets).
        ``wait=False``: yields False at once when any is held elsewhere (nothing is then held)."""
        keys = sorted({lock_key(self.bucket, n) for n in names})
        conn = self._connect()
        held: list[int] = []
        try:
            for k in keys:
                if wait:
                    conn.execute("SELECT pg_advisory_lock(%s)", (k,))
                elif not conn.execute("SELECT pg_try_advisory_lock(%s)", (k,)).fetchone()[0]:
                    break
                held.append(k)
            got = len(held) == len(keys)
            yield got
        finally:
            conn.close()   # closing the session releases every advisory lock it holds

    def holders(self, names: Iterable[str]) -> dict[str, int]:
        """Which of ``names`` are locked now, and by which backend pid (tests, troubleshooting)."""
        wanted = {lock_key(self.bucket, n): n for n in names}
        with self._connect() as conn:
            rows = conn.execute("SELECT (classid::bigint << 32) | objid::bigint, pid FROM pg_locks "
                                "WHERE locktype = 'advisory' AND granted").fetchall()
        out = {}
        for key, pid in rows:
            signed = key - (1 << 64) if key >= (1 << 63) else key
            if signed in wanted:
                out[wanted[signed]] = pid
        return out


def clustering_lock(table: str) -> str:
    return f"{table}:{CLUSTERING}"

