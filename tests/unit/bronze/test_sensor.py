"""The freshness sensor: runs when end offsets moved, skips otherwise (Kafka mocked)."""
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context

from crypto_pipeline.assets.bronze.sensors import bronze_new_data_sensor
from crypto_pipeline.resources.kafka import KafkaResource


class FakeKafka(KafkaResource):
    high: int = 0

    def end_offsets(self, timeout: float = 10.0):
        return {"crypto_raw_btcusdt": {0: (0, self.high)}}


def test_sensor_requests_run_only_when_offsets_moved():
    with DagsterInstance.ephemeral() as inst:
        ctx = build_sensor_context(instance=inst, resources={"kafka": FakeKafka(bootstrap_servers="x", high=5)})
        first = bronze_new_data_sensor(ctx)
        assert isinstance(first, RunRequest) and first.tags["bronze/new_messages"] == "5"
        ctx2 = build_sensor_context(instance=inst, cursor=ctx.cursor, resources={"kafka": FakeKafka(bootstrap_servers="x", high=5)})
        assert isinstance(bronze_new_data_sensor(ctx2), SkipReason)
        ctx3 = build_sensor_context(instance=inst, cursor=ctx.cursor, resources={"kafka": FakeKafka(bootstrap_servers="x", high=9)})
        again = bronze_new_data_sensor(ctx3)
        assert isinstance(again, RunRequest) and again.run_key != first.run_key
