"""Spec worked examples (§2.2 EMA, §2.3 RSI, §2.4 MACD(2,4,2), §2.5 BBANDS(3)): the same loop code with
small periods, patched in, so the hand-checked numbers exercise the real implementation."""
import pytest

import crypto_pipeline.silver.indicators as ind


@pytest.fixture()
def small(monkeypatch):
    monkeypatch.setattr(ind, "SMA_PERIODS", (3,))
    monkeypatch.setattr(ind, "EMA_PERIODS", (3,))
    monkeypatch.setattr(ind, "RSI_PERIOD", 3)
    monkeypatch.setattr(ind, "MACD_FAST", 2)
    monkeypatch.setattr(ind, "MACD_SLOW", 4)
    monkeypatch.setattr(ind, "MACD_SIGNAL", 2)
    monkeypatch.setattr(ind, "BB_PERIOD", 3)
    monkeypatch.setattr(ind, "OUTPUT_COLUMNS", ("sma_3", "ema_3", "rsi_14", "macd", "macd_signal", "macd_hist",
                                                "bb_upper", "bb_middle", "bb_lower"))

    def run(xs):
        st = ind.IndicatorState(sma_total={"3": 0.0}, ema={"3": 0.0})
        return [st.update(x) for x in xs]
    return run


def approx(values, expected, tol=1e-6):
    assert len(values) == len(expected)
    for v, e in zip(values, expected):
        assert (v is None and e is None) or (v is not None and e is not None and abs(v - e) < tol), (values, expected)


def test_ema3(small):
    outs = small([10, 14, 11, 13, 15])
    approx([o["ema_3"] for o in outs], [None, None, 11.666667, 12.333333, 13.666667])


def test_rsi3(small):
    outs = small([10, 11, 10.5, 11.5, 12, 11])
    approx([o["rsi_14"] for o in outs], [None, None, None, 80.0, 84.615385, 50.0])


def test_macd_2_4_2(small):
    outs = small([10, 11, 12, 11, 13, 14, 13])
    approx([o["macd"] for o in outs], [None] * 4 + [0.7, 0.82, 0.358667])
    approx([o["macd_signal"] for o in outs], [None] * 4 + [0.6, 0.746667, 0.488])
    approx([o["macd_hist"] for o in outs], [None] * 4 + [0.1, 0.073333, -0.129333])


def test_bbands3(small):
    outs = small([10, 14, 11, 13, 15])
    approx([o["bb_middle"] for o in outs], [None, None, 11.666667, 12.666667, 13])
    approx([o["bb_upper"] for o in outs], [None, None, 15.066013, 15.161105, 16.265986])
    approx([o["bb_lower"] for o in outs], [None, None, 8.267320, 10.172228, 9.734014])
