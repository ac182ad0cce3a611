"""Offset planning: per-table checkpoints, resume after a partial run, retention-loss detection."""
import pytest

from crypto_pipeline.lakehouse import offsets as off

WM = {"crypto_raw_btcusdt": {0: (0, 100), 1: (0, 50)}}


def test_fresh_tables_read_everything_and_checkpoint_the_end():
    p = off.plan_run(WM, {"trades": {}, "klines": {}})
    assert p.start == {"crypto_raw_btcusdt": {0: 0, 1: 0}} and p.end == {"crypto_raw_btcusdt": {0: 100, 1: 50}}
    assert p.table_checkpoint["trades"] == p.end and p.total == 150
    assert p.changed("trades")


def test_partial_run_resumes_each_table_at_its_own_checkpoint():
    # a killed run committed trades up to 100/50, klines never committed past 40/20
    ck = {"trades": {"crypto_raw_btcusdt": {0: 100, 1: 50}}, "klines": {"crypto_raw_btcusdt": {0: 40, 1: 20}}}
    p = off.plan_run({"crypto_raw_btcusdt": {0: (0, 120), 1: (0, 50)}}, ck)
    assert p.start == {"crypto_raw_btcusdt": {0: 40, 1: 20}}                   # read once from the lowest
    assert p.table_from["trades"] == {"crypto_raw_btcusdt": {0: 100, 1: 50}}   # trades skips what it has
    assert p.table_checkpoint["klines"] == p.table_checkpoint["trades"] == {"crypto_raw_btcusdt": {0: 120, 1: 50}}


def test_cap_never_moves_a_checkpoint_backwards():
    ck = {"trades": {"t": {0: 90}}, "klines": {"t": {0: 0}}}
    p = off.plan_run({"t": {0: (0, 100)}}, ck, max_per_partition=10)
    assert p.end == {"t": {0: 10}} and p.table_checkpoint["trades"] == {"t": {0: 90}}


def test_new_topic_needs_no_configuration_and_unknown_partitions_are_kept():
    ck = {"trades": {"gone_topic": {0: 7}}}
    p = off.plan_run({"crypto_raw_newusdt": {0: (0, 3)}}, ck)
    assert p.table_checkpoint["trades"] == {"gone_topic": {0: 7}, "crypto_raw_newusdt": {0: 3}}


def test_retention_loss_fails_with_the_lost_range_unless_acknowledged():
    ck = {"trades": {"t": {0: 5}}}
    with pytest.raises(off.RetentionLossError) as e:
        off.plan_run({"t": {0: (20, 30)}}, ck)
    assert e.value.lost == [{"topic": "t", "partition": 0, "from": 5, "to": 20}] and "t[0] 5..20" in str(e.value)
    p = off.plan_run({"t": {0: (20, 30)}}, ck, accept_data_loss=True)
    assert p.start == {"t": {0: 20}} and p.lost and p.table_checkpoint["trades"] == {"t": {0: 30}}


def test_checkpoint_past_log_end_is_refused():
    with pytest.raises(off.CheckpointAheadError):
        off.plan_run({"t": {0: (0, 10)}}, {"trades": {"t": {0: 11}}})


def test_checkpoint_round_trip_and_kafka_json():
    o = {"t": {0: 5, 1: 7}}
    assert off.decode(off.encode(o)) == o and off.decode(None) == {}
    p = off.plan_run({"t": {0: (0, 9)}}, {"x": {}})
    assert p.kafka_json() == ('{"t": {"0": 0}}', '{"t": {"0": 9}}')


def test_a_total_cap_cuts_every_partition_in_proportion_and_keeps_each_moving():
    wm = {"a": {0: (0, 1000), 1: (0, 10)}, "b": {0: (0, 1)}, "c": {0: (0, 0)}}
    p = off.plan_run(wm, {"trades": {}}, max_total=101)
    assert p.end == {"a": {0: 99, 1: 1}, "b": {0: 1}, "c": {0: 0}}   # ~101: 1000/1011 and 10/1011 of it; b's one record
    assert p.table_checkpoint["trades"] == p.end and p.total == 101
    assert off.plan_run(wm, {"trades": {}}, max_total=5000).end == {"a": {0: 1000, 1: 10}, "b": {0: 1}, "c": {0: 0}}
    with pytest.raises(ValueError, match="max_total must be >= 1"):
        off.plan_run(wm, {"trades": {}}, max_total=0)


def test_a_capped_plan_counts_the_records_it_left_in_kafka():
    wm = {"a": {0: (0, 1000), 1: (0, 10)}, "b": {0: (0, 0)}}
    assert off.plan_run(wm, {"t": {}}, max_per_partition=100).left == 900      # a[0]: 100 read, 900 left
    assert off.plan_run(wm, {"t": {}}, max_total=101).left == 1010 - 101
    assert off.plan_run(wm, {"t": {}}).left == 0
    assert off.plan_run(wm, {"t": {"a": {0: 950}}}, max_per_partition=100).left == 0   # a[0] resumes at 950
