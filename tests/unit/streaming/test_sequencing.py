"""Gap detector and dedupe state machines (pure, no I/O)."""
import random

from hypothesis import given, settings, strategies as st

from streaming.sequencing import (DUPLICATE, GAP, HELD, PUBLISH, DiffDepthSequencer, IdSequencer, KlineSequencer,
                                  MonotonicSequencer)


def test_ids_in_order_and_duplicates():
    s = IdSequencer()
    assert [s.on_live(i, i) for i in (5, 6, 7)] == [PUBLISH] * 3
    assert s.on_live(6, 6) == DUPLICATE and s.on_live(7, 7) == DUPLICATE
    assert s.duplicates == 2 and s.last == 7


def test_gap_holds_live_frames_and_backfill_merges_in_order():
    s = IdSequencer()
    s.on_live(1, 1)
    assert s.on_live(5, 5) == GAP and s.gap == (2, 4)
    assert s.on_live(6, 6) == HELD and s.on_live(5, 5) == HELD   # overlap duplicate while filling
    out, nxt = s.on_backfill([(2, 2), (3, 3), (4, 4), (5, 5)], upto=4)
    assert out == [2, 3, 4, 5, 6] and nxt is None
    assert s.last == 6 and not s.filling and s.gaps_filled == 1 and s.duplicates == 2


def test_unfillable_hole_is_skipped_and_counted():
    s = IdSequencer()
    s.on_live(1, 1)
    s.on_live(5, 5)
    out, nxt = s.on_backfill([(2, 2), (4, 4)], upto=4)   # REST lacks id 3
    assert out == [2, 4, 5] and nxt is None and s.missing_unfilled == 1


def test_second_gap_inside_held_frames_is_requested_next():
    s = IdSequencer()
    s.on_live(1, 1)
    s.on_live(3, 3)                  # gap (2, 2)
    s.on_live(4, 4)
    s.on_live(8, 8)                  # frames 5..7 lost while filling
    out, nxt = s.on_backfill([(2, 2)], upto=2)
    assert out == [2, 3, 4] and nxt == (5, 7) and s.filling
    out, nxt = s.on_backfill([(5, 5), (6, 6), (7, 7)], upto=7)
    assert out == [5, 6, 7, 8] and nxt is None


def test_abandon_publishes_held_in_order():
    s = IdSequencer()
    s.on_live(10, 10)
    s.on_live(20, 20)
    s.on_live(19, 19)
    assert s.abandon() == [19, 20] and s.missing_unfilled == 8 and not s.filling


def test_resume_makes_old_ids_duplicates_and_reveals_downtime_gap():
    s = IdSequencer()
    s.resume(100)
    assert s.on_live(99, 99) == DUPLICATE
    assert s.on_live(150, 150) == GAP and s.gap == (101, 149)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(5, 300), seed=st.integers(0, 10**6))
def test_property_dense_unique_output_whatever_the_delivery(n, seed):
    """Frames are dropped, duplicated and swapped (two overlapping connections); with an honest REST
    the published ids are exactly first..last, each once, in order."""
    rnd = random.Random(seed)
    ids = list(range(1, n + 1))
    delivered = []
    for i in ids:
        r = rnd.random()
        if r < 0.15 and i not in (1, n):
            continue              # lost
        delivered.append(i)
        if r > 0.9:
            delivered.append(i)   # duplicate
    for k in range(len(delivered) - 1):
        if rnd.random() < 0.05:
            delivered[k], delivered[k + 1] = delivered[k + 1], delivered[k]
    if delivered[0] != 1:
        delivered.remove(1)
        delivered.insert(0, 1)
    s = IdSequencer()
    out = []
    for i in delivered:
        code = s.on_live(i, i)
        if code == PUBLISH:
            out.append(i)
        while s.filling and s.gap is not None:   # the backfiller answers at once
            lo, hi = s.gap
            got, _ = s.on_backfill([(j, j) for j in range(lo, hi + 1)], hi)
            out.extend(got)
    assert out == ids


def test_kline_missed_close_and_skipped_bars():
    k = KlineSequencer("1m")
    assert k.on_live((0, 10, False), "a") == PUBLISH
    assert k.on_live((0, 10, False), "dup") == DUPLICATE
    assert k.on_live((0, 59_999, True), "close0") == PUBLISH
    assert k.on_live((60_000, 60_010, False), "b") == PUBLISH      # next bar after a close: fine
    assert k.on_live((180_000, 180_005, False), "d") == GAP        # bar 1 never closed, bar 2 missing
    assert k.gap == (60_000, 179_999)
    out, _ = k.on_backfill([((60_000, 119_999, True), "c1"), ((120_000, 179_999, True), "c2")], 0)
    assert out == ["c1", "c2", "d"] and k.last_t == 180_000 and not k.closed


def test_diff_depth_gap_counted_not_held():
    d = DiffDepthSequencer()
    assert d.on_live((1, 5), 1) == PUBLISH
    assert d.on_live((6, 9), 2) == PUBLISH
    assert d.on_live((3, 9), 3) == DUPLICATE
    assert d.on_live((15, 20), 4) == PUBLISH and d.gaps_found == 1 and d.missing_unfilled == 5


def test_monotonic_drops_repeats_only():
    m = MonotonicSequencer()
    assert [m.on_live(k, k) for k in (1, 3, 3, 2, 4)] == [PUBLISH, PUBLISH, DUPLICATE, DUPLICATE, PUBLISH]
