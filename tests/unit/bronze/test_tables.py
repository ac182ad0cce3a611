"""The table contract shared with silver (paths, keys, column types)."""
import pytest
from pyspark.sql.types import DecimalType

from crypto_pipeline.lakehouse.hudi import CHECKPOINT_KEY, hudi_options
from crypto_pipeline.lakehouse.tables import BRONZE_TABLES, EVENT_TYPE_TABLE, KLINES, TRADES, bronze_path
from crypto_pipeline.resources.s3 import S3Resource


def test_paths_match_s3_resource():
    s3 = S3Resource(endpoint="http://x", access_key="a", secret_key="b", bucket="lake")
    for t in BRONZE_TABLES:
        assert bronze_path("lake", t) == s3.uri("bronze", t)
    with pytest.raises(KeyError):
        bronze_path("lake", "nope")


def test_contract_columns():
    cols = dict(TRADES.columns)
    assert TRADES.record_key == ("symbol", "trade_id") and TRADES.partition == ("symbol", "dt")
    assert cols["price"] == DecimalType(38, 18) and cols["quote_quantity"] == DecimalType(38, 18)
    for c in ("kafka_topic", "kafka_partition", "kafka_offset", "quality_score", "source", "ingest_time_ms", "payload_json"):
        assert c in cols and c in dict(KLINES.columns)
    assert KLINES.record_key == ("symbol", "interval", "open_time_ms")
    assert set(BRONZE_TABLES) == {"trades", "agg_trades", "klines", "tickers", "depth", "book_ticker", "quarantine"}
    assert EVENT_TYPE_TABLE["24hrMiniTicker"] == "tickers" and EVENT_TYPE_TABLE["depthPartial"] == "depth"


def test_hudi_options_carry_checkpoint_and_small_file_settings():
    o = hudi_options(TRADES, {"v": 1, "offsets": {"t": {"0": 3}}}, "run1")
    assert o["hoodie.datasource.write.recordkey.field"] == "symbol,trade_id"
    assert o[CHECKPOINT_KEY] == '{"offsets": {"t": {"0": 3}}, "v": 1}'
    assert o["hoodie.datasource.write.commitmeta.key.prefix"] and CHECKPOINT_KEY.startswith(o["hoodie.datasource.write.commitmeta.key.prefix"])
    # commits never rewrite files; clustering merges the small ones; the cleaner keeps what silver may still read
    assert o["hoodie.parquet.small.file.limit"] == "0" and o["hoodie.clustering.inline"] == "true"
    assert int(o["hoodie.clustering.inline.max.commits"]) < int(o["hoodie.clean.commits.retained"]) < int(o["hoodie.keep.min.commits"])
    assert o["hoodie.index.type"] == "BLOOM"
