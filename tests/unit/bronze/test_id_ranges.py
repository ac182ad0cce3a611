"""Committed id ranges of dense-id tables (pure Python)."""


from crypto_pipeline.lakehouse import id_ranges as ids



def test_merge_coalesces_adjacent_and_overlapping_ids_and_keeps_gaps():
    r = ids.merge({}, {"BTC": [5, 3, 4, 9, 10, 3]})
    assert r == {"BTC": [(3, 5), (9, 10)]}
    r = ids.merge(r, {"BTC": [6, 7, 8], "ETH": [1]})
    assert r == {"BTC": [(3, 10)], "ETH": [(1, 1)]}
    assert ids.merge(r, {"BTC": []}) == r


def test_overlapping_returns_only_ranges_meeting_the_span():
    r = {"BTC": [(1, 10), (20, 30), (40, 50)]}
    assert ids.overlapping(r, "BTC", 25, 41) == [(20, 30), (40, 50)]
    assert ids.overlapping(r, "BTC", 11, 19) == [] and ids.overlapping(r, "ETH", 1, 5) == []


def test_encoding_round_trips_and_absent_ranges_decode_to_none():
    r = {"BTC": [(1, 10), (20, 30)], "ETH": [(7, 7)]}
    assert ids.decode(ids.encode(r)) == r
    assert ids.decode(None) is None and ids.decode("") is None
