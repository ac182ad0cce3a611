"""High-water marks of rising-key tables (pure Python) and the insert/upsert choice they drive."""
import pytest

from crypto_pipeline.lakehouse import key_marks as km
from crypto_pipeline.lakehouse.hudi import CHECKPOINT_KEY, ID_RANGES_KEY, KEY_MARKS_KEY, hudi_options
from crypto_pipeline.lakehouse.tables import BOOK_TICKER, BRONZE_TABLES, KLINES, QUARANTINE, TICKERS, TableDef


def test_a_batch_above_every_committed_mark_is_insertable_and_a_new_group_counts_as_above():
    marks = {("BTC", "24h"): 100, ("BTC", "mini"): 50}
    assert km.all_above(marks, {("BTC", "24h"): 101, ("ETH", "24h"): 1})
    assert not km.all_above(marks, {("BTC", "24h"): 101, ("BTC", "mini"): 50})   # equal = a key already held
    assert not km.all_above(marks, {("BTC", "mini"): 7})                          # a replay or late event
    assert km.all_above({}, {("BTC", "24h"): 1})


def test_merge_keeps_the_largest_value_per_group():
    marks = km.merge({("BTC",): 100, ("ETH",): 5}, {("BTC",): 90, ("SOL",): 3})
    assert marks == {("BTC",): 100, ("ETH",): 5, ("SOL",): 3}
    assert km.merge(marks, {("ETH",): 6})[("ETH",)] == 6


def test_encoding_round_trips_groups_of_any_width_and_absent_marks_decode_to_none():
    marks = {km.group_of(["crypto_raw_btcusdt", 0]): 41, ("BTC", "partial5"): 7}
    assert km.decode(km.encode(marks)) == marks
    assert km.decode(None) is None and km.decode("") is None


def test_rising_key_tables_are_the_per_event_ones_and_klines_stay_upserted():
    rising = {n for n, t in BRONZE_TABLES.items() if t.rising_key}
    assert rising == {"tickers", "depth", "book_ticker", "quarantine"}
    assert TICKERS.key_groups == ("symbol", "kind") and BOOK_TICKER.key_groups == ("symbol",)
    assert QUARANTINE.key_groups == ("kafka_topic", "kafka_partition") and not KLINES.rising_key
    with pytest.raises(ValueError, match="dense-id"):
        TableDef("x", ("symbol", "id"), ("symbol",), "id", (), dense_id="id", rising_key=True)


def test_hudi_options_insert_with_state_and_upsert_by_default():
    up = hudi_options(TICKERS, {"v": 1}, state={KEY_MARKS_KEY: "m"})
    assert up["hoodie.datasource.write.operation"] == "upsert" and up[KEY_MARKS_KEY] == "m"
    ins = hudi_options(TICKERS, {"v": 1}, insert=True, state={KEY_MARKS_KEY: "m"})
    assert ins["hoodie.datasource.write.operation"] == "insert" and ins["hoodie.combine.before.insert"] == "true"
    assert ID_RANGES_KEY not in ins
    # klines are always upserted (an index lookup per file): clustered sooner than the insert-only tables
    assert int(hudi_options(KLINES)["hoodie.clustering.inline.max.commits"]) < int(ins["hoodie.clustering.inline.max.commits"])
    with pytest.raises(KeyError, match="not bronze commit state"):
        hudi_options(TICKERS, state={CHECKPOINT_KEY: "x"})
