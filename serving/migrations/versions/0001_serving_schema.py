"""Serving schema v1: candles, the gold mirrors, latest_ticker, sync_state; privileges of the
pipeline_writer and reader roles (docs/contracts-gold-serving.md).

Types: epoch-ms times are bigint; candle prices/quantities (and gold's copies of a close, a price or a
quantity) stay exact as numeric; metrics are double precision, NULL where undefined (the sync never
writes NaN). `synced_at` says when the sync wrote a row (serving lag = synced_at - the silver commit).

Roles are cluster-wide, so they are created here NOLOGIN when missing (the schema applies from empty on
any cluster); deploy (serving.roles) gives them LOGIN and the generated passwords.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

WRITER, READER = "pipeline_writer", "reader"
TABLES = ("candles", "gold_risk", "gold_correlation", "gold_portfolio", "gold_portfolio_positions",
          "gold_signals", "gold_anomalies", "latest_ticker", "sync_state")

_SYNCED = "updated_at_ms bigint not null, synced_at timestamptz not null default now()"

DDL = [
    f"""create table candles (
        symbol text not null, interval text not null, open_time_ms bigint not null, close_time_ms bigint not null,
        open numeric not null, high numeric not null, low numeric not null, close numeric not null,
        volume numeric not null, quote_volume numeric not null,
        taker_buy_base_volume numeric not null, taker_buy_quote_volume numeric not null,
        trade_count bigint not null, first_trade_id bigint not null, last_trade_id bigint not null,
        is_final boolean not null,
        sma_20 double precision, sma_50 double precision, sma_200 double precision,
        ema_12 double precision, ema_26 double precision, ema_50 double precision, rsi_14 double precision,
        macd double precision, macd_signal double precision, macd_hist double precision,
        bb_upper double precision, bb_middle double precision, bb_lower double precision,
        source text not null, {_SYNCED},
        primary key (symbol, interval, open_time_ms))""",
    f"""create table gold_risk (
        symbol text not null, interval text not null, window_bars integer not null, open_time_ms bigint not null,
        close numeric, simple_return double precision, log_return double precision,
        volatility_ann double precision, var_95 double precision, cvar_95 double precision,
        var_99 double precision, cvar_99 double precision, max_drawdown double precision,
        sharpe double precision, sortino double precision, beta_btc double precision, {_SYNCED},
        primary key (symbol, interval, window_bars, open_time_ms))""",
    f"""create table gold_correlation (
        interval text not null, window_bars integer not null, open_time_ms bigint not null,
        symbol_a text not null, symbol_b text not null, correlation double precision, {_SYNCED},
        primary key (interval, window_bars, open_time_ms, symbol_a, symbol_b))""",
    f"""create table gold_portfolio (
        portfolio text not null, interval text not null, open_time_ms bigint not null,
        value double precision, cash double precision, net_flow double precision, period_pnl double precision,
        period_return double precision, cumulative_pnl double precision, realised_pnl double precision,
        unrealised_pnl double precision, drawdown double precision, var_95 double precision,
        cvar_95 double precision, var_99 double precision, cvar_99 double precision, {_SYNCED},
        primary key (portfolio, interval, open_time_ms))""",
    f"""create table gold_portfolio_positions (
        portfolio text not null, interval text not null, open_time_ms bigint not null, symbol text not null,
        quantity numeric, price numeric, value double precision, weight double precision,
        avg_cost double precision, unrealised_pnl double precision, realised_pnl double precision, {_SYNCED},
        primary key (portfolio, interval, open_time_ms, symbol))""",
    f"""create table gold_signals (
        symbol text not null, interval text not null, open_time_ms bigint not null, signal text not null,
        direction smallint, kind text, values_json jsonb, close numeric, {_SYNCED},
        primary key (symbol, interval, open_time_ms, signal))""",
    f"""create table gold_anomalies (
        symbol text not null, interval text not null, open_time_ms bigint not null, metric text not null,
        value double precision, mean double precision, std double precision, zscore double precision,
        window_bars integer, {_SYNCED},
        primary key (symbol, interval, open_time_ms, metric))""",
    # three independently guarded groups: an older event of one kind never overwrites a newer one
    # (last price: trade/ticker event time; 24h stats: ticker event time; book: bookTicker update id)
    """create table latest_ticker (
        symbol text primary key,
        last_price numeric, event_time_ms bigint,
        price_change numeric, price_change_pct numeric, open_price numeric, high_price numeric,
        low_price numeric, volume numeric, quote_volume numeric, stats_event_time_ms bigint,
        best_bid numeric, best_bid_qty numeric, best_ask numeric, best_ask_qty numeric,
        book_update_id bigint, book_event_time_ms bigint,
        source text not null check (source in ('binance', 'simulator', 'rest_backfill', 'replay')),
        updated_at timestamptz not null default now())""",
    """create table sync_state (
        table_name text primary key, last_synced_commit text, rows_last_sync bigint not null default 0,
        synced_at timestamptz not null default now())""",
    # the dashboard reads the newest bars of a series and of an interval across symbols
    "create index candles_interval_time on candles (interval, open_time_ms)",
    "create index gold_signals_time on gold_signals (interval, open_time_ms)",
    "create index gold_anomalies_time on gold_anomalies (interval, open_time_ms)",
]


def _ensure_role(name: str) -> str:
    return (f"do $$ begin if not exists (select 1 from pg_roles where rolname = '{name}') then "
            f"create role {name} nologin; end if; end $$")


def upgrade() -> None:
    for stmt in DDL:
        op.execute(stmt)
    op.execute(_ensure_role(WRITER))
    op.execute(_ensure_role(READER))
    tables = ", ".join(TABLES)
    # nobody but the owner creates objects; only the writer may create temporary (staging) tables
    op.execute("revoke create on schema public from public")
    op.execute("do $$ begin execute format('revoke temporary on database %I from public', current_database()); "
               f"execute format('grant connect, temporary on database %I to {WRITER}', current_database()); "
               f"execute format('grant connect on database %I to {READER}', current_database()); end $$")
    op.execute(f"grant usage on schema public to {WRITER}, {READER}")
    op.execute(f"grant select, insert, update, delete on {tables} to {WRITER}")
    op.execute(f"grant select on {tables} to {READER}")
    # tables later migrations create get the same privileges without each revision repeating them
    op.execute(f"alter default privileges in schema public grant select, insert, update, delete on tables to {WRITER}")
    op.execute(f"alter default privileges in schema public grant select on tables to {READER}")


def downgrade() -> None:
    op.execute(f"alter default privileges in schema public revoke all on tables from {WRITER}, {READER}")
    for t in reversed(TABLES):
        op.execute(f"drop table if exists {t}")
