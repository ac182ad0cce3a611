"""Kafka with authentication, as deployed (infra/kafka_config.py, infra/kafka_acl.py), on a real broker started
from the same ServiceSpec as ./deploy.sh: SASL/SCRAM logins, the StandardAuthorizer and the ACLs. Every refusal
is driven to happen and asserted by its specific error; the streaming service and bronze then work on it."""
from __future__ import annotations

import stat
import time
import uuid
from dataclasses import replace

import psutil
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from infra.kafka_config import ADMIN_USER, PIPELINE_USER, STREAMING_USER
from infra.local_stack import LocalStack
from shared.envelope import DLQ_TOPIC, topic_for
from shared.kafka_connection import KafkaConnection
from shared.symbols import TopicDefaults
from streaming.topics import ensure_topics

TAG = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def sasl_stack():
    stack = LocalStack.create(kafka_sasl=True)  # its own broker: SASL + ACLs, as the deploy stack's
    try:
        stack.start("kafka")  # formats with the SCRAM users, then provisioning creates the ACLs
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def raw_topic(sasl_stack) -> str:
    """A raw topic created as the streaming service creates them (its own user, streaming/topics.py)."""
    symbol = f"XKA{TAG}USDT".upper()
    result = ensure_topics(sasl_stack.kafka(STREAMING_USER), [symbol], TopicDefaults(partitions=1))
    assert result[topic_for(symbol)] in ("created", "exists") and DLQ_TOPIC in result
    return topic_for(symbol)


def _errors_of(conn: KafkaConnection, **extra):
    errors: list[KafkaError] = []
    return errors, conn.client_config(error_cb=errors.append, **extra)


def _produce(conn: KafkaConnection, topic: str, value: bytes, idempotent: bool = False) -> KafkaError | None:
    """Delivery result of one record (None = written). Not idempotent by default: a forger's plain producer
    meets the topic ACLs (an idempotent one without any Write grant fails earlier, at InitProducerId)."""
    result: list[KafkaError | None] = []
    p = Producer(conn.client_config(**{"enable.idempotence": idempotent, "acks": "all", "message.timeout.ms": 15000}))
    p.produce(topic, key=b"k", value=value, on_delivery=lambda err, _msg: result.append(err))
    p.flush(30)
    assert result, "no delivery report"
    return result[0]


def _consume(conn: KafkaConnection, topic: str, group: str, want: int, timeout: float = 30) -> list[bytes]:
    c = Consumer(conn.client_config(**{"group.id": group, "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < want and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            out.append(m.value())
    finally:
        c.close()
    return out


def test_broker_secrets_are_in_0600_files_and_on_no_command_line(sasl_stack):
    props = sasl_stack.layout.etc / "kafka-server.properties"
    assert stat.S_IMODE(props.stat().st_mode) == 0o600
    c = sasl_stack.creds
    secrets = [c.kafka_admin_password, c.kafka_streaming_password, c.kafka_pipeline_password,
               c.kafka_controller_password]
    text = props.read_text()
    assert c.kafka_controller_password in text and "sasl.jaas.config" in text  # the JAAS lives there...
    jvm = psutil.Process(sasl_stack.procs["kafka"].pid)
    seen = " ".join(jvm.cmdline()) + " ".join(f"{k}={v}" for k, v in jvm.environ().items())
    assert not [s for s in secrets if s in seen]  # ...not in KAFKA_OPTS, argv or the environment
    # the services' passwords are not in it either: their salted SCRAM keys are in the metadata log
    assert c.kafka_streaming_password not in text and c.kafka_pipeline_password not in text


def test_an_unauthenticated_client_is_refused(sasl_stack):
    plain = KafkaConnection(sasl_stack.settings.kafka_bootstrap)  # PLAINTEXT: no SASL handshake
    with pytest.raises(KafkaException) as exc:
        AdminClient(plain.client_config(log_level=0)).list_topics(timeout=5)
    assert exc.value.args[0].code() == KafkaError._TRANSPORT
    # the broker hangs up on a request that comes before authentication; its log says why
    log = sasl_stack.log("kafka").read_text(errors="replace")
    assert "Unexpected Kafka request of type METADATA during SASL handshake" in log, log[-2000:]


@pytest.mark.parametrize("user, mechanism, reason", [
    (PIPELINE_USER, "SCRAM-SHA-512", "invalid credentials"),
    (STREAMING_USER, "SCRAM-SHA-512", "invalid credentials"),
    (ADMIN_USER, "PLAIN", "Invalid username or password"),
    (ADMIN_USER, "SCRAM-SHA-512", "invalid credentials"),  # the admin has no SCRAM key at all
])
def test_a_wrong_password_is_refused(sasl_stack, user, mechanism, reason):
    right = sasl_stack.kafka(user)
    wrong = replace(right, mechanism=mechanism, password="not-the-password")
    errors, conf = _errors_of(wrong, log_level=0)
    admin = AdminClient(conf)
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    admin.poll(1)  # serves the error callbacks
    auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    assert auth and reason in auth[0].str(), errors
    assert AdminClient(right.client_config()).list_topics(timeout=10).brokers  # while the right one logs in


def test_the_pipeline_reads_the_raw_topics_but_cannot_write_or_create_them(sasl_stack, raw_topic):
    streaming, pipeline = sasl_stack.kafka(STREAMING_USER), sasl_stack.kafka(PIPELINE_USER)
    # the streaming credential can produce, idempotently as the service does
    assert _produce(streaming, raw_topic, b"by-streaming", idempotent=True) is None
    err = _produce(pipeline, raw_topic, b"forged")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    err = _produce(pipeline, DLQ_TOPIC, b"forged")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    # ...but it reads them, in its own consumer groups
    assert _consume(pipeline, raw_topic, "crypto-pipeline-it-auth", 1) == [b"by-streaming"]
    new = topic_for(f"XKB{TAG}USDT".upper())
    admin = AdminClient(pipeline.client_config())  # held: a collected client cancels its futures
    fut = admin.create_topics([NewTopic(new, 1, 1)], request_timeout=15)[new]
    with pytest.raises(KafkaException) as exc:
        fut.result(30)
    assert exc.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_each_user_is_held_to_its_own_topics_and_groups(sasl_stack, raw_topic):
    streaming, pipeline = sasl_stack.kafka(STREAMING_USER), sasl_stack.kafka(PIPELINE_USER)
    err = _produce(streaming, f"not_crypto_raw_{TAG}", b"x")  # only crypto_raw_* and crypto_dlq
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    with pytest.raises(KafkaException) as exc:  # a group outside the pipeline's prefixes
        _consume(pipeline, raw_topic, f"someone-elses-{TAG}", 1, timeout=20)
    assert exc.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    # the admin (deploy, ./monitor.sh) is a super user: it sees every group
    admin = AdminClient(sasl_stack.kafka(ADMIN_USER).client_config())
    groups = {g.group_id for g in admin.list_consumer_groups().result(timeout=15).valid}
    assert "crypto-pipeline-it-auth" in groups


def test_streaming_service_and_bronze_work_on_the_authenticated_broker(sasl_stack, spark, minio_stack, tmp_path):
    """The real streaming service (streaming user) -> the SASL broker -> bronze (pipeline user) through both
    read paths: the driver's consumer and Spark's Kafka source with the JAAS login as a reader option."""
    from crypto_pipeline.bronze.job import run_bronze
    from crypto_pipeline.lakehouse import offsets as off
    from crypto_pipeline.lakehouse.kafka_batch import DriverKafkaReader, read_with_spark, watermark_reader
    from crypto_pipeline.lakehouse.tables import bronze_path
    from tests.integration.bronze.helpers import make_bucket
    from tests.integration.streaming.conftest import ServiceThread, assert_dense, start_sim, symbols_yaml

    symbol = f"XKS{TAG}USDT".upper()
    pattern = f"^{topic_for(symbol)}$"
    pipeline = sasl_stack.kafka(PIPELINE_USER)
    sim = start_sim({symbol: 100})
    try:
        svc = ServiceThread(sasl_stack.kafka(STREAMING_USER), sim, symbols_yaml(tmp_path, {symbol: ["trade"]}))
        svc.wait(lambda: svc.status()["streams"][f"{symbol.lower()}@trade"]["out_live"] >= 300, 60, "300 trades")
        assert svc.stop() == 0
        assert svc.svc.sink.failed == 0  # every record delivered with the streaming user's login
    finally:
        sim.stop()

    with watermark_reader(pipeline, pattern) as read:
        wm = read()
    plan = off.plan_run(wm, {"trades": {}})
    assert plan.total >= 300
    with DriverKafkaReader(pipeline) as reader:
        via_driver = reader.read(spark, plan)
    via_spark = read_with_spark(spark, pipeline, pattern, plan)
    assert via_driver is not None and via_driver.count() == via_spark.count() == plan.total
    # Spark redacts the JAAS option (its value holds "password") in the plans it logs and shows in its UI
    assert sasl_stack.creds.kafka_pipeline_password not in via_spark._jdf.queryExecution().toString()

    bucket = make_bucket(minio_stack.settings.s3_endpoint, minio_stack.creds.minio_user, minio_stack.creds.minio_password)
    res = run_bronze(spark, bucket, pipeline, pattern, wm, tables=("trades",))  # Spark's Kafka source path
    assert res.tables["trades"].rows == plan.total
    ids = sorted(r.trade_id for r in spark.read.format("hudi").load(bronze_path(bucket, "trades"))
                 .where(f"symbol = '{symbol}'").select("trade_id").collect())
    assert_dense(ids, "bronze trade ids")
    assert len(ids) == plan.total


def test_a_broker_deployed_before_sasl_keeps_its_data_and_gets_its_users():
    """Upgrade: storage formatted by an older, PLAINTEXT deploy. The next deploy restarts it with SASL; the admin's
    static login works at once, provisioning creates the SCRAM users and ACLs, and the old records are readable."""
    stack = LocalStack.create(kafka_sasl=False)
    try:
        stack.start("kafka")
        topic = ensure_topics(stack.kafka(), [f"XKU{TAG}USDT".upper()], TopicDefaults(partitions=1))
        raw = next(t for t in topic if t != DLQ_TOPIC)
        assert _produce(stack.kafka(), raw, b"before-sasl") is None
        old_digest = stack.specs()["kafka"].env["KAFKA_CONFIG_SHA256"]
        stack.stop("kafka")
        stack.settings = stack.settings.model_copy(
            update={"kafka": stack.settings.kafka.model_copy(update={"sasl": True})})
        assert stack.specs()["kafka"].env["KAFKA_CONFIG_SHA256"] != old_digest  # deploy restarts the broker
        stack.start("kafka")  # health check as the admin, then provisioning
        assert _consume(stack.kafka(PIPELINE_USER), raw, "crypto-pipeline-upgrade", 1) == [b"before-sasl"]
        err = _produce(stack.kafka(PIPELINE_USER), raw, b"forged")
        assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
        assert _produce(stack.kafka(STREAMING_USER), raw, b"after-sasl", idempotent=True) is None
    finally:
        stack.close()
