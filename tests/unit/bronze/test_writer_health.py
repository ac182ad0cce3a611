"""The bronze-writer's health answer (what /healthz says) and its in-process retry of failing cycles."""
import socket
import threading
import time

from crypto_pipeline.bronze.health import Health, dependency_probe, describe
from crypto_pipeline.bronze.job import RunResult, TableResult
from crypto_pipeline.bronze.loop import Cycle
from crypto_pipeline.bronze.service import retry_after
from crypto_pipeline.lakehouse.offsets import Plan


def _cycle() -> Cycle:
    plan = Plan(start={}, end={}, table_from={}, table_checkpoint={}, previous={})
    return Cycle(0, False, RunResult(plan, 1, {"trades": TableResult(rows=1, max_event_ms=999_000)}, 1_000_000, 1.0), 0)


def test_health_is_unhealthy_while_starting_stale_or_after_a_retention_loss():
    h = Health(stale_s=0.05)
    assert "starting" in h.problem()
    h.started = time.monotonic()
    assert h.problem() is None
    time.sleep(0.1)
    assert "no trades cycle" in h.problem()
    h.cycle(_cycle())
    assert h.problem() is None and h.as_json()["last_cycle"]["rows"] == {"trades": 1}
    h.failure = "retention loss"
    assert h.problem() == "retention loss" and not h.as_json()["healthy"]


def _listening() -> tuple[socket.socket, str]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, f"127.0.0.1:{s.getsockname()[1]}"


def _closed_port() -> str:
    s, addr = _listening()
    s.close()
    return addr


def test_health_names_the_dependency_that_does_not_answer():
    kafka, kafka_addr = _listening()
    s3, s3_addr = _listening()
    dead = _closed_port()
    try:
        h = Health(probe=dependency_probe(f"{dead},{kafka_addr}", f"http://{s3_addr}"))
        h.started = time.monotonic()
        assert h.problem() is None                                  # one broker of the cluster answering is enough
        h.probe = dependency_probe(dead, f"http://{s3_addr}")
        assert h.problem().startswith(f"Kafka unreachable ({dead}") and h.as_json()["healthy"] is False
        h.probe = dependency_probe(kafka_addr, f"http://{dead}")
        assert h.problem().startswith(f"S3 unreachable ({dead}")
    finally:
        kafka.close()
        s3.close()


def test_failing_cycles_are_reported_until_a_cycle_completes():
    h = Health()
    h.started = time.monotonic()
    assert h.failed(RuntimeError("connection refused\nstack...")) == 0
    time.sleep(0.05)
    assert h.failed(RuntimeError("still refused")) >= 0.05          # measured from the first failure
    assert h.problem().startswith("writes failing for 0s, retrying: RuntimeError: still refused")
    assert h.as_json()["last_error"] == "RuntimeError: still refused"
    h.cycle(_cycle())
    assert h.problem() is None and h.error is None and h.failing_since is None


def test_a_java_exception_is_described_by_its_own_message():
    class JavaError(Exception):
        java_exception = type("J", (), {"toString": lambda self: "java.net.ConnectException: Connection refused\n\tat x"})()

    assert describe(JavaError("An error occurred while calling o1.save.\n: trace")) == \
        "JavaError: java.net.ConnectException: Connection refused"


class FakeSpark:
    """Just what retry_after asks: is the SparkContext stopped (or is the JVM gone: raises)."""

    def __init__(self, stopped: bool | None):
        sc = type("SC", (), {"isStopped": lambda _: self._stopped()})()
        self.stopped = stopped
        self.sparkContext = type("Ctx", (), {"_jsc": type("JSC", (), {"sc": lambda _: sc})()})()

    def _stopped(self) -> bool:
        if self.stopped is None:
            raise ConnectionError("py4j: the JVM is gone")
        return self.stopped


def test_retry_waits_with_backoff_and_gives_up_after_retry_for_s_or_without_a_session():
    stop = threading.Event()
    h = Health()
    t0 = time.monotonic()
    assert retry_after(FakeSpark(False), h, RuntimeError("broker down"), 60, stop, retries=0)
    assert 1.9 < time.monotonic() - t0 < 10 and "broker down" in h.error     # waited 2 s (the first backoff)
    stop.set()                                                                # the service is stopping: no wait
    assert retry_after(FakeSpark(False), h, RuntimeError("broker down"), 60, stop, retries=10)
    h.failing_since = time.monotonic() - 61
    assert not retry_after(FakeSpark(False), h, RuntimeError("broker down"), 60, stop, retries=0)
    assert not retry_after(FakeSpark(True), Health(), RuntimeError("x"), 60, stop, retries=0)
    assert not retry_after(FakeSpark(None), Health(), RuntimeError("x"), 60, stop, retries=0)
