"""One sync transaction into a serving table: COPY the rows into a temporary staging table, upsert them
(`INSERT … ON CONFLICT DO UPDATE`, only where a value changed), optionally delete the rows the lakehouse
no longer holds in the touched scopes, record the upstream commit consumed in `sync_state`, and
`pg_notify('serving_sync', …)` — all in ONE transaction, so a reader sees the table before or after a
sync, never half of one, and the checkpoint can never run ahead of (or behind) the rows.

The table's columns, types and primary key are read from PostgreSQL (the Alembic schema is the contract),
so this module knows nothing table-specific. No Spark here: the lakehouse side hands over an iterable of
rows, which keeps this part testable and killable without a JVM."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

SYNC_CHANNEL = "serving_sync"
NOTIFY_LIMIT = 7900          # PostgreSQL's payload limit is 8000 bytes
SERVER_COLUMNS = ("synced_at",)  # set by the database, never copied
IGNORED_IN_COMPARISON = ("updated_at_ms",)  # a recomputation with equal values is not a change
_FLOATING = ("double precision", "real", "numeric")


@dataclass(frozen=True)
class TableShape:
    name: str
    columns: tuple[str, ...]        # every column the sync writes (all but SERVER_COLUMNS)
    key: tuple[str, ...]
    types: dict[str, str]


@dataclass
class Deletes:
    """Rows to reconcile: within each scope (a dict of column -> value, plus an optional
    ``open_time_ms`` range ``(lo, hi)`` under the key ``"open_time_ms"``), delete the table's rows whose key
    is not in ``keys`` (the lakehouse's keys in those scopes). An empty scope dict means the whole table."""

    scopes: list[dict]
    keys: Iterable[Sequence]


@dataclass
class SyncResult:
    table: str
    staged: int = 0
    upserted: int = 0
    deleted: int = 0
    symbols: list[str] = field(default_factory=list)
    commit: str | None = None


def table_shape(conn: psycopg.Connection, table: str) -> TableShape:
    cols = conn.execute(
        "select column_name, data_type from information_schema.columns where table_schema = 'public' "
        "and table_name = %s order by ordinal_position", (table,)).fetchall()
    if not cols:
        raise ValueError(f"serving table {table!r} does not exist (run the migrations: python -m serving.migrate)")
    key = [r[0] for r in conn.execute(
        "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey) "
        "where i.indrelid = %s::regclass and i.indisprimary order by array_position(i.indkey, a.attnum)",
        (f"public.{table}",)).fetchall()]
    types = {c: t for c, t in cols}
    return TableShape(table, tuple(c for c, _ in cols if c not in SERVER_COLUMNS), tuple(key), types)


def _clean(col: str, typ: str) -> sql.Composable:
    """NaN/±Infinity become NULL: the contract says undefined metrics are NULL, never NaN."""
    ident = sql.Identifier(col)
    if typ in _FLOATING:
        return sql.SQL("case when {c} in ('NaN', 'Infinity', '-Infinity') then null else {c} end").format(c=ident)
    return ident


def _copy(cur: psycopg.Cursor, table: str, columns: Sequence[str], rows: Iterable[Sequence],
          symbol_idx: list[int], symbols: set[str]) -> int:
    n = 0
    stmt = sql.SQL("copy {} ({}) from stdin").format(sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with cur.copy(stmt) as cp:
        for row in rows:
            cp.write_row(row)
            for i in symbol_idx:
                symbols.add(row[i])
            n += 1
    return n


def _upsert_sql(shape: TableShape, columns: Sequence[str]) -> sql.Composable:
    ident = lambda c: sql.Identifier(c)  # noqa: E731
    cols = sql.SQL(", ").join(map(ident, columns))
    cleaned = sql.SQL(", ").join(_clean(c, shape.types[c]) for c in columns)
    keys = sql.SQL(", ").join(map(ident, shape.key))
    values = [c for c in columns if c not in shape.key]
    compared = [c for c in values if c not in IGNORED_IN_COMPARISON]
    # several versions of one key in a batch: keep the newest (ON CONFLICT may touch a row once per statement)
    order = sql.SQL(", ").join([*map(ident, shape.key)] + ([sql.SQL("updated_at_ms desc")] if "updated_at_ms" in columns else []))
    sets = [sql.SQL("{c} = excluded.{c}").format(c=ident(c)) for c in values]
    if "synced_at" in shape.types:
        sets.append(sql.SQL("synced_at = now()"))
    changed = sql.SQL("({}) is distinct from ({})").format(
        sql.SQL(", ").join(sql.SQL("t.{}").format(ident(c)) for c in compared),
        sql.SQL(", ").join(sql.SQL("excluded.{}").format(ident(c)) for c in compared)) if compared else sql.SQL("false")
    return sql.SQL(
        "insert into {t} as t ({cols}) select distinct on ({keys}) {cleaned} from _stg order by {order} "
        "on conflict ({keys}) do update set {sets} where {changed}").format(
        t=ident(shape.name), cols=cols, keys=keys, cleaned=cleaned, order=order, sets=sql.SQL(", ").join(sets),
        changed=changed)


def _delete_missing(cur: psycopg.Cursor, shape: TableShape, deletes: Deletes) -> int:
    """Delete rows in the scopes whose keys the lakehouse no longer has (restated-away signals/anomalies)."""
    cur.execute(sql.SQL("create temp table _stg_keys on commit drop as select {} from {} with no data").format(
        sql.SQL(", ").join(map(sql.Identifier, shape.key)), sql.Identifier(shape.name)))
    _copy(cur, "_stg_keys", shape.key, deletes.keys, [], set())
    total = 0
    missing = sql.SQL("not exists (select 1 from _stg_keys k where {})").format(
        sql.SQL(" and ").join(sql.SQL("k.{c} = t.{c}").format(c=sql.Identifier(c)) for c in shape.key))
    for scope in deletes.scopes:
        conds, params = [missing], []
        for col, val in scope.items():
            if col == "open_time_ms" and isinstance(val, tuple):
                conds.append(sql.SQL("t.open_time_ms >= %s and t.open_time_ms < %s"))
                params += list(val)
            else:
                conds.append(sql.SQL("t.{} = %s").format(sql.Identifier(col)))
                params.append(val)
        cur.execute(sql.SQL("delete from {} as t where {}").format(sql.Identifier(shape.name),
                                                                    sql.SQL(" and ").join(conds)), params)
        total += cur.rowcount
    return total


def _payload(table: str, rows: int, symbols: list[str]) -> str:
    body = {"table": table, "rows": rows, "symbols": symbols}
    text = json.dumps(body)
    while len(text.encode()) > NOTIFY_LIMIT and body["symbols"]:
        body["symbols"] = body["symbols"][: len(body["symbols"]) // 2]
        body["symbols_truncated"] = True
        text = json.dumps(body)
    return text


def sync_table(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence],
               state: dict[str, str | None], deletes: Deletes | None = None,
               before_commit: Callable[[], None] | None = None) -> SyncResult:
    """Apply one sync to `table` in one transaction. ``state`` maps sync_state.table_name -> the upstream
    completion time consumed (None: leave it). ``before_commit`` is a test hook (crash injection)."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        # inside an open transaction this block would be a mere savepoint: not one transaction per table
        raise ValueError("sync_table needs a connection without an open transaction (use autocommit=True)")
    res = SyncResult(table)
    symbols: set[str] = set()
    with conn.transaction(), conn.cursor() as cur:
        shape = table_shape(conn, table)
        unknown = [c for c in columns if c not in shape.columns]
        if unknown:
            raise ValueError(f"serving table {table!r} has no column(s) {unknown}; columns: {list(shape.columns)}")
        absent = [c for c in shape.key if c not in columns]
        if absent:
            raise ValueError(f"rows for {table!r} lack key column(s) {absent}")
        cur.execute(sql.SQL("create temp table _stg on commit drop as select {} from {} with no data").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table)))
        sym_idx = [i for i, c in enumerate(columns) if c in ("symbol", "symbol_a")]
        res.staged = _copy(cur, "_stg", columns, rows, sym_idx, symbols)
        if res.staged:
            cur.execute(_upsert_sql(shape, columns))
            res.upserted = cur.rowcount
        if deletes is not None and deletes.scopes:
            res.deleted = _delete_missing(cur, shape, deletes)
        for name, commit in state.items():
            if commit is None:
                continue
            res.commit = commit
            cur.execute("insert into sync_state (table_name, last_synced_commit, rows_last_sync, synced_at) "
                        "values (%s, %s, %s, now()) on conflict (table_name) do update set "
                        "last_synced_commit = excluded.last_synced_commit, rows_last_sync = excluded.rows_last_sync, "
                        "synced_at = excluded.synced_at", (name, commit, res.upserted + res.deleted))
        res.symbols = sorted(s for s in symbols if s is not None)
        if res.upserted or res.deleted:
            # delivered to listeners when (and only if) this transaction commits
            cur.execute("select pg_notify(%s, %s)", (SYNC_CHANNEL, _payload(table, res.upserted + res.deleted, res.symbols)))
        if before_commit is not None:
            before_commit()
    return res


def synced_commit(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute("select last_synced_commit from sync_state where table_name = %s", (name,)).fetchone()
    return row[0] if row else None
