"""The continuous bronze loop's cycle plan and the keeper sensor (run_bronze and Spark faked)."""
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunRequest, SkipReason, build_sensor_context

from crypto_pipeline.assets.bronze import stream
from crypto_pipeline.assets.bronze.job import RunResult, TableResult
from crypto_pipeline.assets.bronze.stream import LoopSettings, run_loop
from crypto_pipeline.assets.bronze.stream_job import bronze_stream_job, bronze_stream_keeper
from crypto_pipeline.lakehouse import offsets as off
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_first_cycle_is_full_then_fast_until_the_full_period_passed(monkeypatch):
    clock, calls, seen = Clock(), [], []

    def fake_run_bronze(spark, bucket, bootstrap, pattern, wm, **kw):
        calls.append(kw["tables"])
        clock.t += 5  # every cycle takes 5 s
        names = kw["tables"] or tuple(BRONZE_TABLES)
        plan = off.plan_run({}, {n: {} for n in names})
        return RunResult(plan, 10, {n: TableResult(rows=1, max_event_ms=0) for n in names}, 1000, 5.0)

    monkeypatch.setattr(stream, "run_bronze", fake_run_bronze)
    monkeypatch.setattr(stream.time, "monotonic", clock.monotonic)
    state = run_loop(None, "b", "k", "p", lambda: {}, LoopSettings(full_every_s=20), lambda: len(calls) >= 9,
                     seen.append, sleep=clock.sleep)
    assert calls[0] is None and calls[1:4] == [("trades",)] * 3 and calls[4] is None   # full at t=0, 20, 40
    assert [c.full for c in seen] == [True, False, False, False, True, False, False, False, True]
    assert state.cycles == 9 and state.full_cycles == 3 and state.rows["trades"] == 9 and state.rows["quarantine"] == 3


@pytest.mark.parametrize("kw, msg", [({"fast_tables": ("nope",)}, "unknown bronze tables"),
                                     ({"fast_tables": ("quarantine",)}, "full cycles only"),
                                     ({"full_every_s": 0}, "full_every_s")])
def test_settings_reject_what_would_silently_misbehave(kw, msg):
    with pytest.raises(ValueError, match=msg):
        LoopSettings(**kw)


def test_keeper_starts_one_stream_run_and_backs_off_after_a_failure():
    with DagsterInstance.ephemeral() as inst:
        assert isinstance(bronze_stream_keeper(build_sensor_context(instance=inst)), RunRequest)
        run = inst.create_run_for_job(bronze_stream_job, run_config={})
        _set_status(inst, run, DagsterRunStatus.STARTED)
        skip = bronze_stream_keeper(build_sensor_context(instance=inst))
        assert isinstance(skip, SkipReason) and "started" in skip.skip_message
        _set_status(inst, run, DagsterRunStatus.FAILURE)
        skip = bronze_stream_keeper(build_sensor_context(instance=inst))
        assert isinstance(skip, SkipReason) and "restarting in" in skip.skip_message


def _set_status(inst, run, status):
    from dagster._core.events import DagsterEvent, DagsterEventType

    event_type = {DagsterRunStatus.STARTED: DagsterEventType.RUN_START,
                  DagsterRunStatus.FAILURE: DagsterEventType.RUN_FAILURE}[status]
    inst.report_dagster_event(DagsterEvent(event_type.value, job_name=run.job_name), run_id=run.run_id)
