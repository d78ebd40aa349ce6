"""Backtrader's contract adapter in ``fill = "next_close"`` mode (Close orders), on hand-built bars."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from adapters import backtrader as bt_adapter
from harness.engines import Unsupported
from harness.results import validate_result
from tests.builders import bars, make_rotation, make_scenario

BACKTRADER = bt_adapter.Backtrader()

pytestmark = pytest.mark.backtrader

# bar:   open    high   low    close (every open differs from the previous close)
OHLC = bars(
    (100.0, 101.0, 99.0, 100.5),   # 0
    (100.5, 102.0, 100.0, 101.0),  # 1
    (101.5, 103.0, 101.0, 102.5),  # 2
    (102.0, 104.0, 101.5, 103.0),  # 3
    (103.5, 105.0, 103.0, 104.5),  # 4
    (104.0, 104.5, 102.0, 102.0),  # 5
)


def run(entries, exits, **kw):
    result = BACKTRADER.run(make_scenario(OHLC, entries=entries, exits=exits, fill="next_close", **kw))
    validate_result(result)
    return result


def fills_of(result):
    return [(f.bar, f.side, f.size, f.price, f.fee, f.reason) for f in result.fills]


def test_a_close_order_fills_at_the_next_bars_close_slipped_with_its_fee():
    r = run([0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0], fee=0.001, slippage=0.002)
    buy, sell = 102.5 * (1 + 0.002), 104.5 * (1 - 0.002)
    assert [(f.bar, f.side, f.size, f.reason) for f in r.fills] == [(2, "buy", 10.0, "signal"), (4, "sell", 10.0, "signal")]
    assert [f.price for f in r.fills] == pytest.approx([buy, sell], rel=1e-12)
    assert [f.fee for f in r.fills] == pytest.approx([10 * buy * 0.001, 10 * sell * 0.001], rel=1e-9)


def test_a_signal_on_the_last_bar_never_fills_and_the_one_before_fills_on_it():
    assert fills_of(run([0, 0, 0, 0, 0, 1], [0] * 6)) == []
    assert [(f.bar, f.price) for f in run([0, 0, 0, 0, 1, 0], [0] * 6).fills] == [(5, 102.0)]


def test_a_buy_that_does_not_fit_at_the_next_close_is_rejected_on_that_bar():
    r = run([0, 1, 0, 0, 0, 0], [0] * 6, cash=1020.0)  # 10 * 102.5 = 1025 > 1020
    assert r.fills == () and [(x.bar, x.side, x.size) for x in r.rejections] == [(2, "buy", 10.0)]


def test_a_bars_stop_fills_before_its_close_fills_and_pays_for_them():
    # Two assets, cash for one position. A00 (entry bar 0, filled at close[1] = 100, stop 5% -> 95) is
    # stopped intrabar on bar 3; A01's entry decided on bar 2 fills at close[3] with the stop's proceeds.
    a = [(100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0),
         (99.0, 100.0, 90.0, 92.0), (92.0, 93.0, 91.0, 92.0)]
    b = [(50.0, 51.0, 49.0, 50.0)] * 5
    one = make_scenario(bars(*a), entries=[1, 0, 0, 0, 0], exits=[0] * 5, fill="next_close", cash=1000.0,
                        stop_loss=0.05, size=10)
    grid = {k: np.array([[x[i], y[i]] for x, y in zip(a, b)]) for i, k in enumerate(("open", "high", "low", "close"))}
    market = dataclasses.replace(one.market, assets=("A00", "A01"), volume=np.full((5, 2), 1000.0),
                                 entries=np.array([[1, 0], [0, 0], [0, 1], [0, 0], [0, 0]], dtype=bool),
                                 exits=np.zeros((5, 2), dtype=bool), **grid)
    scenario = dataclasses.replace(one, market=market)
    r = BACKTRADER.run(scenario)
    assert [(f.asset, f.bar, f.side, f.price, f.reason) for f in r.fills] == [
        ("A00", 1, "buy", 100.0, "signal"), ("A00", 3, "sell", 95.0, "stop_loss"), ("A01", 3, "buy", 50.0, "signal")]
    assert r.rejections == ()


def test_next_close_rotation_is_unsupported():
    with pytest.raises(Unsupported) as info:
        BACKTRADER.run(make_rotation([[100.0]] * 3, [[100.0]] * 3, {0: [0.5]}, fill="next_close"))
    assert info.value.knob == "[execution] fill"
