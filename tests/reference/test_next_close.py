"""``fill = "next_close"`` and the knobs that describe Zipline, in the reference engine (hand-built bars)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from engine import kernel
from engine.reference import Reference
from harness.scenario import Scenario
from tests.builders import bars, make_rotation, make_scenario

run = Reference().run

pytestmark = pytest.mark.reference

SIX = bars(
    (100.0, 102.0, 99.0, 101.0),   # bar 0
    (102.0, 104.0, 101.0, 103.0),  # bar 1
    (104.0, 106.0, 103.0, 105.0),  # bar 2
    (106.0, 108.0, 105.0, 107.0),  # bar 3
    (108.0, 110.0, 107.0, 109.0),  # bar 4
    (110.0, 112.0, 109.0, 111.0),  # bar 5
)


def fills_of(result):
    return [(f.bar, f.side, f.size, f.price, f.reason) for f in result.fills]


def with_knobs(scenario: Scenario, **knobs) -> Scenario:
    spec = dataclasses.replace(scenario.spec, contract=scenario.spec.contract.replace(**knobs))
    return dataclasses.replace(scenario, spec=spec)


def test_a_signal_fills_at_the_next_bars_close():
    s = make_scenario(SIX, entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0], fill="next_close", size=10)
    r = run(s)
    assert fills_of(r) == [(2, "buy", 10.0, 105.0, "signal"), (4, "sell", 10.0, 109.0, "signal")]
    # bar 2: 10000 - 1050 + 10 * 105; bar 3: + 10 * 107; bar 4: 8950 + 1090
    assert r.equity == (10_000.0, 10_000.0, 10_000.0, 10_020.0, 10_040.0, 10_040.0)


def test_nothing_decided_on_the_last_bar_fills_and_the_bar_before_fills_on_it():
    s = make_scenario(SIX, entries=[0, 0, 0, 0, 1, 0], exits=[0] * 6, fill="next_close")
    assert fills_of(run(s)) == [(5, "buy", 10.0, 111.0, "signal")]
    s = make_scenario(SIX, entries=[0, 0, 0, 0, 0, 1], exits=[0] * 6, fill="next_close")
    assert fills_of(run(s)) == []


def test_an_entry_on_the_bar_an_exit_fills_is_decided_on_the_flat_book():
    # exit decided on bar 2 fills at close[3]; the entry signal on bar 3 then fills at close[4]
    s = make_scenario(SIX, entries=[1, 0, 0, 1, 0, 0], exits=[0, 0, 1, 0, 0, 0], fill="next_close")
    assert fills_of(run(s)) == [(1, "buy", 10.0, 103.0, "signal"), (3, "sell", 10.0, 107.0, "signal"),
                                (4, "buy", 10.0, 109.0, "signal")]


def test_an_entry_while_one_is_pending_is_ignored():
    s = make_scenario(SIX, entries=[1, 1, 0, 0, 0, 0], exits=[0] * 6, fill="next_close")
    assert fills_of(run(s)) == [(1, "buy", 10.0, 103.0, "signal")]


def test_stops_are_off_from_the_exit_decision_and_on_from_the_bar_after_the_fill():
    crash = bars((100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0),
                 (99.0, 100.0, 80.0, 99.0), (99.0, 100.0, 80.0, 99.0), (99.0, 100.0, 98.0, 99.0))
    # entry on bar 0 fills at close[1] (ref 100, level 95); bar 2 does not reach it; the exit decided
    # on bar 2 fills at close[3]: bar 3's low (80) is not checked against the stop.
    s = make_scenario(crash, entries=[1, 0, 0, 0, 0, 0], exits=[0, 0, 1, 0, 0, 0], fill="next_close",
                      stop_loss=0.05)
    assert fills_of(run(s)) == [(1, "buy", 10.0, 100.0, "signal"), (3, "sell", 10.0, 99.0, "signal")]
    # without the exit, the stop fills intrabar on bar 3
    s = make_scenario(crash, entries=[1, 0, 0, 0, 0, 0], exits=[0] * 6, fill="next_close", stop_loss=0.05)
    assert fills_of(run(s)) == [(1, "buy", 10.0, 100.0, "signal"), (3, "sell", 10.0, 95.0, "stop_loss")]


def test_a_time_exit_is_decided_on_fill_bar_plus_n_minus_1():
    s = make_scenario(SIX, entries=[1, 0, 0, 0, 0, 0], exits=[0] * 6, fill="next_close", max_bars=2)
    assert fills_of(run(s)) == [(1, "buy", 10.0, 103.0, "signal"), (3, "sell", 10.0, 107.0, "time_exit")]


def test_a_buy_that_does_not_fit_at_the_next_close_is_rejected_on_that_bar():
    s = make_scenario(SIX, entries=[0, 1, 0, 0, 0, 0], exits=[0] * 6, fill="next_close", cash=1000.0)
    r = run(s)
    assert fills_of(r) == [] and [(x.bar, x.side, x.size) for x in r.rejections] == [(2, "buy", 10.0)]
    r = run(with_knobs(s, cash_check="none"))  # no cash check: it fills and the cash goes below 0
    assert fills_of(r) == [(2, "buy", 10.0, 105.0, "signal")] and r.rejections == ()
    assert r.equity[2] == 1000.0 - 1050.0 + 1050.0


def test_rotation_sizes_at_the_close_and_fills_at_the_next_close():
    px = [[100.0, 50.0], [130.0, 40.0], [120.0, 60.0]]
    r = run(make_rotation(px, px, {0: [0.5, 0.5]}, fill="next_close", cash=1000.0))
    # sized from close[0]: 5 of A00, 10 of A01 (equal value changes: asset order); filled at close[1]:
    # A00 costs 650, then A01's 400 does not fit in the 350 left
    assert [(f.asset, f.bar, f.side, f.size, f.price) for f in r.fills] == [("A00", 1, "buy", 5.0, 130.0)]
    assert [(x.asset, x.bar, x.size) for x in r.rejections] == [("A01", 1, 10.0)]
    r = run(with_knobs(make_rotation(px, px, {0: [0.5, 0.5]}, fill="next_close", cash=1000.0), cash_check="none"))
    assert [(f.asset, f.size, f.price) for f in r.fills] == [("A00", 5.0, 130.0), ("A01", 10.0, 40.0)]
    assert r.rejections == () and r.equity[1] == 1000.0 - 650.0 - 400.0 + 650.0 + 400.0


def test_stop_trigger_close_looks_at_the_close_only():
    dip = bars((100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0), (99.0, 100.0, 90.0, 96.0),
               (96.0, 97.0, 93.0, 94.0), (94.0, 95.0, 93.0, 94.0))
    s = make_scenario(dip, entries=[1, 0, 0, 0, 0], exits=[0] * 5, fill="next_close", stop_loss=0.05,
                      slippage=0.01)
    assert fills_of(run(s))[1] == (2, "sell", 10.0, 95.0 * (1.0 - 0.01), "stop_loss")
    assert fills_of(run(with_knobs(s, stop_trigger="close")))[1] == (3, "sell", 10.0, 94.0 * (1.0 - 0.01), "stop_loss")
    # a gap through the level: still the close (the open is not looked at)
    gap = bars((100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0), (90.0, 97.0, 89.0, 93.0), (93.0, 94.0, 92.0, 93.0))
    s = make_scenario(gap, entries=[1, 0, 0, 0], exits=[0] * 4, fill="next_close", stop_loss=0.05)
    assert fills_of(run(s))[1] == (2, "sell", 10.0, 90.0, "stop_loss")
    assert fills_of(run(with_knobs(s, stop_trigger="close")))[1] == (2, "sell", 10.0, 93.0, "stop_loss")


def test_stop_trigger_close_take_profit_is_slipped_unless_slip_take_profit_is_false():
    up = bars((100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0), (101.0, 115.0, 100.0, 112.0),
              (112.0, 113.0, 111.0, 112.0))
    s = with_knobs(make_scenario(up, entries=[1, 0, 0, 0], exits=[0] * 4, fill="next_close", take_profit=0.1,
                                 slippage=0.01), stop_trigger="close")
    assert fills_of(run(s))[1] == (2, "sell", 10.0, 112.0 * (1.0 - 0.01), "take_profit")
    assert fills_of(run(with_knobs(s, slip_take_profit=False)))[1] == (2, "sell", 10.0, 112.0, "take_profit")


def _tick_rule(level: float, tick: float, up: bool) -> float:
    """``[exits] level_tick`` as its rule says, transcribed independently of the kernel."""
    d = (0.95 - 0.5) * tick - 10 * 2.0 ** -52
    x = (level + d) / tick if up else (level - d) / tick
    r = math.ceil(x) if x % 1 >= 0.5 else math.floor(x)
    out = tick * r
    return 0.0 if abs(out) <= 1e-6 else out


def test_level_tick_follows_its_rule():
    rng = np.random.default_rng(7)
    levels = np.concatenate([rng.uniform(0.5, 500.0, 2000), np.round(rng.uniform(1.0, 200.0, 500), 3),
                             [95.00285, 95.0, 110.00000000000001, 89.29999999999998, 0.004]])
    for level in levels.tolist():
        for up in (False, True):
            assert kernel.tick_level(level, 0.01, up) == _tick_rule(level, 0.01, up), (level, up)
        assert kernel.tick_level(level, 0.0, False) == level
    assert kernel.tick_level(95.00285, 0.01, False) == 95.0  # a stop rounds down
    assert kernel.tick_level(95.006, 0.01, False) == 95.0
    assert kernel.tick_level(95.0096, 0.01, False) == 95.01  # unless within 0.05 tick below the next
    assert kernel.tick_level(110.001, 0.01, True) == 110.01  # a take-profit rounds up
    assert kernel.tick_level(110.0004, 0.01, True) == 110.0  # unless within 0.05 tick above one


def test_order_rounding_near_integer():
    assert [kernel.near_integer(q) for q in (2.99995, 2.9998, 3.00009, -4.99995, -4.5, 0.7, -0.7)] == \
        [3.0, 2.0, 3.0, -5.0, -4.0, 0.0, -0.0]
    s = make_scenario(SIX, entries=[1, 0, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0], fill="next_close", size=0.5)
    assert fills_of(run(with_knobs(s, order_rounding="near_integer"))) == []  # 0 units: no order
    px = [[100.0, 33.0], [100.0, 33.0], [100.0, 33.0]]
    rot = make_rotation(px, px, {0: [0.3333, 0.5]}, fill="next_close", cash=1000.0)
    # A00: 333.3 / 100 = 3.333 -> 3; A01: 500 / 33 = 15.15... -> 15 (the same as floor for these)
    r = run(with_knobs(rot, order_rounding="near_integer"))
    assert sorted((f.asset, f.size) for f in r.fills) == [("A00", 3.0), ("A01", 15.0)]
    rot = make_rotation(px, px, {0: [0.299995, 0.0]}, fill="next_close", cash=1000.0)
    # 299.995 / 100 = 2.99995: fractional units buy it as it is, near_integer rounds it to 3, whole floors it to 2
    assert [f.size for f in run(rot).fills] == [pytest.approx(2.99995, rel=1e-12)]
    assert [f.size for f in run(with_knobs(rot, order_rounding="near_integer")).fills] == [3.0]
    assert [f.size for f in run(with_knobs(rot, units="whole")).fills] == [2.0]
    assert [f.size for f in run(with_knobs(rot, units="whole", order_rounding="near_integer")).fills] == [3.0]
