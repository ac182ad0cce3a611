"""Bronze: raw Kafka records as typed Hudi tables on S3, one per stream type. Pure Spark/Hudi code (no
Dagster): the batch write (job), the continuous loop and the bronze-writer service around it, the checks."""
