"""The continuous bronze loop's cycle plan (run_bronze and Spark faked)."""
import time

import pytest

from crypto_pipeline.bronze import loop as stream
from crypto_pipeline.bronze.job import RunResult, TableResult
from crypto_pipeline.bronze.loop import LoopSettings, run_loop
from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES


class FakeContext:
    def setLocalProperty(self, key, value):  # noqa: N802 - Spark's name
        pass


class FakeSpark:
    sparkContext = FakeContext()


def _fake_run_bronze(calls, fail_on=None):
    def run(spark, bucket, bootstrap, pattern, wm, **kw):
        names = kw["tables"]
        if fail_on and fail_on in names:
            raise RuntimeError("S3 down")
        calls.append(names)
        plan = off.plan_run({}, {n: {} for n in names})
        return RunResult(plan, 10, {n: TableResult(rows=1, max_event_ms=0) for n in names}, 1000, 0.01)
    return run


def test_fast_loop_writes_hot_tables_often_slow_loop_the_rest(monkeypatch):
    calls, seen = [], []
    monkeypatch.setattr(stream, "run_bronze", _fake_run_bronze(calls))
    fast_cycles = lambda: sum(1 for c in seen if not c.full)  # noqa: E731
    state = run_loop(FakeSpark(), "b", "k", "p", lambda: {}, LoopSettings(fast_interval_s=0.01, full_every_s=0.2, driver_read_max=0),
                     lambda: fast_cycles() >= 40, seen.append)
    slow = tuple(n for n in BRONZE_TABLES if n != "trades")
    assert set(calls) == {("trades",), slow}                       # two disjoint writers, one per table
    assert 1 <= sum(c.full for c in seen) < fast_cycles()          # the rest runs, but less often
    assert seen[0].number == 1 and [c.number for c in seen] == list(range(1, len(seen) + 1))
    assert state.rows["trades"] == fast_cycles() and state.rows["quarantine"] == state.full_cycles


def test_a_failure_in_the_slow_loop_stops_both_and_is_raised(monkeypatch):
    calls = []
    monkeypatch.setattr(stream, "run_bronze", _fake_run_bronze(calls, fail_on="quarantine"))
    with pytest.raises(RuntimeError, match="S3 down"):
        run_loop(FakeSpark(), "b", "k", "p", lambda: {}, LoopSettings(fast_interval_s=0.01, driver_read_max=0), lambda: False,
                 lambda c: None)
    assert set(calls) <= {("trades",)}  # the slow loop never wrote; the fast one stopped


@pytest.mark.parametrize("kw, msg", [({"fast_tables": ("nope",)}, "unknown bronze tables"),
                                     ({"fast_tables": ("quarantine",)}, "slow loop"),
                                     ({"fast_tables": ()}, "at least one"),
                                     ({"full_every_s": 0}, "full_every_s"),
                                     ({"cluster_every_s": 0}, "cluster_every_s")])
def test_settings_reject_what_would_silently_misbehave(kw, msg):
    with pytest.raises(ValueError, match=msg):
        LoopSettings(**kw)


def test_a_fast_cycle_that_loses_a_race_with_clustering_is_retried(monkeypatch):
    calls, seen, lost = [], [], []
    ok = _fake_run_bronze(calls)

    def racy(*a, **kw):
        if not lost and kw["tables"] == ("trades",):
            lost.append(1)
            raise RuntimeError("py4j: org.apache.hudi.exception.HoodieWriteConflictException: Cannot resolve conflicts")
        return ok(*a, **kw)

    monkeypatch.setattr(stream, "run_bronze", racy)
    state = run_loop(FakeSpark(), "b", "k", "p", lambda: {}, LoopSettings(fast_interval_s=0.01, driver_read_max=0),
                     lambda: sum(not c.full for c in seen) >= 3, seen.append)
    assert state.conflicts == 1 and sum(not c.full for c in seen) == 3   # it went on after the lost race


def test_slow_loop_clusters_the_fast_tables_and_a_real_failure_stops_the_stream(monkeypatch):
    clustered, seen = [], []
    monkeypatch.setattr(stream, "run_bronze", _fake_run_bronze([]))
    monkeypatch.setattr(stream, "table_exists", lambda spark, path: True)

    def cluster(spark, table, path):
        clustered.append((table.name, path))
        return stream.ClusteringResult(table.name, ("1",), 2, 0.01)

    monkeypatch.setattr(stream, "cluster_table", cluster)
    settings = LoopSettings(fast_interval_s=0.01, full_every_s=0.05, cluster_every_s=0.1, driver_read_max=0)
    run_loop(FakeSpark(), "b", "k", "p", lambda: {}, settings, lambda: len(clustered) >= 2, seen.append)
    assert clustered[0] == ("trades", "s3a://b/bronze/trades")
    assert any(c.full and c.clustering for c in seen)                    # reported with its slow cycle

    def broken(spark, table, path):
        raise RuntimeError("S3 down")

    monkeypatch.setattr(stream, "cluster_table", broken)
    with pytest.raises(RuntimeError, match="S3 down"):
        run_loop(FakeSpark(), "b", "k", "p", lambda: {}, settings, lambda: False, lambda c: None)


def test_a_loop_behind_by_more_than_its_cap_runs_its_next_cycle_at_once(monkeypatch):
    seen, slow_runs = [], []
    ok = _fake_run_bronze([])

    def capped(*a, **kw):
        res = ok(*a, **kw)
        if "quarantine" in kw["tables"]:
            slow_runs.append(1)
            if len(slow_runs) <= 3:
                res.plan.left = 5000    # read to max_per_partition: more is waiting in Kafka
        return res

    monkeypatch.setattr(stream, "run_bronze", capped)
    deadline = time.monotonic() + 5
    settings = LoopSettings(fast_interval_s=0.01, full_every_s=60, driver_read_max=0)
    run_loop(FakeSpark(), "b", "k", "p", lambda: {}, settings,
             lambda: sum(c.full for c in seen) >= 4 or time.monotonic() > deadline, seen.append)
    assert sum(c.full for c in seen) == 4    # three capped cycles back to back, then one more (caught up)
