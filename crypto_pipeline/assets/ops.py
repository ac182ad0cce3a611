"""Operational assets: what the raw layer holds before any Spark job reads it."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from crypto_pipeline.resources.kafka import KafkaResource


@asset(group_name="ops", description="Per raw topic and partition, the low and high Kafka offsets (what bronze can read).")
def raw_topic_offsets(context: AssetExecutionContext, kafka: KafkaResource) -> MaterializeResult:
    offsets = kafka.end_offsets()
    rows = [(t, p, lo, hi) for t, parts in offsets.items() for p, (lo, hi) in parts.items()]
    total = sum(hi - lo for _, _, lo, hi in rows)
    context.log.info("%d raw topics, %d partitions, %d retained messages", len(offsets), len(rows), total)
    table = "| topic | partition | low | high |\n|---|---|---|---|\n" + "".join(
        f"| {t} | {p} | {lo} | {hi} |\n" for t, p, lo, hi in rows)
    return MaterializeResult(metadata={
        "topics": len(offsets), "partitions": len(rows), "retained_messages": total,
        "offsets": MetadataValue.md(table if rows else "no raw topics yet"),
    })
