"""The code location loads, and an asset materialises against a PostgreSQL-backed Dagster instance."""
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from dagster import AssetKey, DagsterInstance, Definitions, materialize

from crypto_pipeline.assets.ops import raw_topic_offsets
from crypto_pipeline.resources.kafka import KafkaResource


def test_definitions_load():
    from crypto_pipeline.definitions import defs

    Definitions.validate_loadable(defs)
    assert AssetKey("raw_topic_offsets") in defs.resolve_asset_graph().get_all_asset_keys()




def test_asset_materialises_on_postgres_instance(pg_instance, kafka_stack):
    bootstrap = kafka_stack.settings.kafka_bootstrap
    topic = f"crypto_raw_it{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # keep a reference until the future resolves
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(3):
        p.produce(topic, key=b"k", value=b"v%d" % i)
    assert p.flush(30) == 0

    assert type(pg_instance.run_storage).__name__ == "PostgresRunStorage"
    result = materialize([raw_topic_offsets], instance=pg_instance,
                         resources={"kafka": KafkaResource(bootstrap_servers=bootstrap, topic_pattern=f"^{topic}$")})
    assert result.success
    event = pg_instance.get_latest_materialization_event(AssetKey("raw_topic_offsets"))
    assert event is not None
    meta = event.asset_materialization.metadata
    assert meta["topics"].value == 1 and meta["retained_messages"].value == 3
    # the run is stored in PostgreSQL: a fresh instance on the same database sees it
    again = DagsterInstance.from_config(pg_instance.root_directory)
    assert again.get_run_by_id(result.run_id).is_success
    again.dispose()
