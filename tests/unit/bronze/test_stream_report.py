"""The bronze stream's per-minute report: one materialisation per written table with what the UI needs
(rows, commits, how many needed an index lookup, write time) and a log line that says where slow cycles
spent their time."""
from types import SimpleNamespace

from dagster import AssetKey

from crypto_pipeline.assets.bronze.job import RunResult, TableResult
from crypto_pipeline.assets.bronze.stream import Cycle
from crypto_pipeline.assets.bronze.stream_job import Reporter
from crypto_pipeline.lakehouse.offsets import Plan


class FakeContext:
    def __init__(self):
        self.events, self.lines = [], []
        self.log = SimpleNamespace(info=self.lines.append)

    def log_event(self, event):
        self.events.append(event)


def _cycle(full: bool, tables: dict[str, TableResult], seconds: float, phases: dict[str, float]) -> Cycle:
    ckpt = {n: {"crypto_raw_btcusdt": {0: 10}} for n in tables}
    plan = Plan(start={}, end={}, table_from=ckpt, table_checkpoint=ckpt, previous={})
    return Cycle(0, full, RunResult(plan, 10, tables, 1_000_000, seconds, phases=phases), 0)


def test_report_names_slow_writes_phases_and_upserts():
    ctx = FakeContext()
    rep = Reporter(ctx, every_s=3600)
    rep(_cycle(False, {"trades": TableResult(rows=5, max_event_ms=999_000, write_s=1.0, inserted=True)}, 3.0,
               {"plan": 0.5, "read": 0.5, "prepare": 1.0, "write": 1.0}))
    rep(_cycle(False, {"trades": TableResult(rows=7, max_event_ms=999_500, write_s=4.0, inserted=True)}, 9.0,
               {"plan": 0.5, "read": 0.5, "prepare": 1.0, "write": 7.0}))
    rep(_cycle(True, {"klines": TableResult(rows=3, max_event_ms=990_000, write_s=6.0, inserted=False),
                      "book_ticker": TableResult(rows=40, write_s=2.0, inserted=True)}, 20.0,
               {"plan": 1.0, "read": 4.0, "prepare": 9.0, "write": 6.0}))
    rep.flush()
    line = ctx.lines[-1]
    assert "fast p50 6.0s max 9.0s [plan 0.5 read 0.5 prepare 1.0 write 7.0]" in line
    assert "slow 20.0s [plan 1.0 read 4.0 prepare 9.0 write 6.0] (klines 6.0s, book_ticker 2.0s)" in line
    meta = {e.asset_key: {k: v.value for k, v in e.metadata.items()} for e in ctx.events}
    assert meta[AssetKey("bronze_trades")]["rows_written"] == 12 and meta[AssetKey("bronze_trades")]["upsert_commits"] == 0
    assert meta[AssetKey("bronze_klines")]["upsert_commits"] == 1 and meta[AssetKey("bronze_klines")]["write_seconds_max"] == 6.0
    assert meta[AssetKey("bronze_trades")]["freshness_at_commit_max_ms"] == 1_000
