"""The cost knobs beside fee and slippage (fixed_fee, per_share, min_fee, slippage_abs) and the signal
sizing modes (percent_of_equity, target_value) in the reference engine.

The hand-built knob scenarios write their outcome in the spec (fills with sizes and fees, rejections);
the tests below them transcribe each rule independently of the kernel on inline bars.
"""

from __future__ import annotations

import math

import pytest

from engine.reference import simulate
from harness import golden
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.builders import bars, make_rotation, make_scenario

pytestmark = pytest.mark.reference

FLAT = (100.0, 101.0, 99.0, 100.0)


def run(scenario, **changes):
    return simulate(scenario, scenario.spec.contract.replace(**changes))


def rows(out):
    return [(f.bar, f.side, f.size, f.price, f.fee, f.reason) for f in out.fills]


# ---- the hand-built scenarios: each required case, checked against the outcome its spec writes down

def spec_checked(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    out = simulate(scenario, scenario.spec.contract)
    assert scenario.spec.hand_written
    assert golden.spec_disagreement(out, scenario.spec) is None
    return scenario, out


def test_a_fixed_fee_is_paid_on_every_fill_and_counted_in_the_cash_check():
    scenario, out = spec_checked("knob_fixed_fee")
    c = scenario.spec.contract
    assert c.fixed_fee == 1.5 and all(e["fee"] is not None for e in scenario.spec.expected)
    assert [f.fee for f in out.fills] == [c.fee * f.size * f.price + c.fixed_fee for f in out.fills]
    [rejected] = out.rejections
    # refused only because of the fixed fee: without it the order fits
    price = scenario.market.open[rejected.bar, 0]
    assert rejected.size * price + c.fee * rejected.size * price <= c.cash < (
        rejected.size * price + c.fee * rejected.size * price + c.fixed_fee)


def test_a_per_share_commission_under_its_minimum_pays_the_minimum():
    scenario, out = spec_checked("knob_per_share_min_fee")
    c = scenario.spec.contract
    for f in out.fills:
        assert c.per_share * f.size < c.min_fee  # under the minimum
        assert f.fee == c.fee * f.size * f.price + c.min_fee  # the percentage fee on top, in full
    [rejected] = out.rejections
    price = scenario.market.close[rejected.bar, 0]
    unminimised = rejected.size * price + (c.fee * rejected.size * price + c.per_share * rejected.size)
    assert unminimised <= c.cash < rejected.size * price + (c.fee * rejected.size * price + c.min_fee)


def test_absolute_slippage_moves_signal_and_stop_fills():
    scenario, out = spec_checked("knob_slippage_abs")
    s, a = scenario.spec.contract.slippage, scenario.spec.contract.slippage_abs
    assert a > 0 and [f.reason for f in out.fills] == ["signal", "stop_loss", "signal", "signal"]
    o = scenario.market.open[:, 0]
    assert out.fills[0].price == o[2] * (1 + s) + a
    assert out.fills[1].price == 95.0 * (1 - s) - a  # the stop level, slipped
    assert out.fills[3].price == o[7] * (1 - s) - a


def test_a_percent_of_equity_entry_that_does_not_fit_after_costs_is_rejected():
    scenario, out = spec_checked("knob_percent_of_equity")
    c = scenario.spec.contract
    [rejected] = out.rejections
    j = scenario.market.assets.index(rejected.asset)
    price = scenario.market.close[rejected.bar, j]
    cash = c.cash - (50 * 100.0 + c.fee * 50 * 100.0)  # after A00's entry on bar 1
    value = cash + 50 * scenario.market.close[rejected.bar, 0]
    assert rejected.size == math.floor(c.fraction * value / price)
    assert rejected.size * price <= cash < rejected.size * price + c.fee * rejected.size * price  # costs tip it


def test_a_target_value_entry_is_sized_at_its_decision_close():
    scenario, out = spec_checked("knob_target_value")
    c = scenario.spec.contract
    close = scenario.market.close[:, 0]
    buys = [f for f in out.fills if f.side == "buy"]
    assert [f.size for f in buys] == [math.floor(c.value / close[f.bar - 1]) for f in buys]
    assert all(f.price != close[f.bar - 1] for f in buys)  # filled at the next open, at another price


# ---- the rules, transcribed

def test_the_fee_is_percentage_plus_the_minimised_per_share_commission_plus_the_fixed_fee():
    ohlc = bars(FLAT, FLAT, (100.0, 111.0, 99.0, 110.0), FLAT)
    sc = make_scenario(ohlc, entries=[0, 1, 0, 0], exits=[0, 0, 1, 0], size=200.0, cash=100_000.0, fee=0.002)
    for per_share, min_fee, fixed_fee in ((0.01, 1.0, 0.0), (0.01, 5.0, 0.0), (0.01, 5.0, 0.7), (0.0, 0.0, 0.7)):
        out = run(sc, per_share=per_share, min_fee=min_fee, fixed_fee=fixed_fee)
        assert [f.fee for f in out.fills] == [
            0.002 * 200.0 * f.price + max(per_share * 200.0, min_fee) + fixed_fee for f in out.fills]
        assert out.final_value == 100_000.0 + 200.0 * (110.0 - 100.0) - sum(f.fee for f in out.fills)
    # at the contract's defaults the fee is the percentage fee alone, bit for bit
    assert [f.fee for f in run(sc).fills] == [0.002 * 200.0 * p for p in (100.0, 110.0)]


def test_a_sell_pays_its_fee_even_when_it_exceeds_the_proceeds():
    ohlc = bars(FLAT, (1.0, 1.0, 1.0, 1.0), (1.0, 1.0, 1.0, 1.0), FLAT)
    out = run(make_scenario(ohlc, entries=[1, 0, 0, 0], exits=[0, 1, 0, 0], size=1.0), fixed_fee=5.0)
    assert rows(out) == [(0, "buy", 1.0, 100.0, 5.0, "signal"), (1, "sell", 1.0, 1.0, 5.0, "signal")]
    assert out.final_value == 10_000.0 - 100.0 - 5.0 + 1.0 - 5.0


def test_absolute_slippage_on_take_profit_time_exit_and_the_bar_cap():
    s, a = 0.001, 0.25
    tp_bar = (100.0, 111.0, 99.0, 105.0)
    sc = make_scenario(bars(FLAT, FLAT, tp_bar, FLAT), entries=[0, 1, 0, 0], exits=[0] * 4, slippage=s,
                       take_profit=0.05)
    level = 100.0 * (1 + 0.05)
    out = run(sc, slippage_abs=a)
    assert [f.price for f in out.fills] == [100.0 * (1 + s) + a, level * (1 - s) - a]
    # slip_take_profit = false: an intrabar take-profit is slipped by neither
    assert run(sc, slippage_abs=a, slip_take_profit=False).fills[-1].price == level
    # a take-profit gapped at the open: open * (1 - s) - a
    gap = make_scenario(bars(FLAT, FLAT, (112.0, 113.0, 111.0, 112.0), FLAT), entries=[0, 1, 0, 0], exits=[0] * 4,
                        slippage=s, take_profit=0.05)
    assert run(gap, slippage_abs=a).fills[-1].price == 112.0 * (1 - s) - a
    # a time exit at the next open
    time = make_scenario(bars(FLAT, FLAT, FLAT, (98.0, 99.0, 97.0, 98.0), FLAT), entries=[1, 0, 0, 0, 0],
                         exits=[0] * 5, fill="next_open", slippage=s, max_bars=2)
    assert [(f.bar, f.price, f.reason) for f in run(time, slippage_abs=a).fills] == [
        (1, 100.0 * (1 + s) + a, "signal"), (3, 98.0 * (1 - s) - a, "time_exit")]
    # slippage_cap = "bar" caps the slipped price, absolute part included, even with s = 0
    capped = make_scenario(bars(FLAT, (100.0, 100.1, 99.95, 100.0), FLAT, FLAT), entries=[0, 1, 0, 0],
                           exits=[0, 0, 1, 0], fill="next_open")
    out = run(capped, slippage_abs=a, slippage_cap="bar")
    assert [f.price for f in out.fills] == [100.0 + a, 100.0 - a]  # within the range 99..101 of bars 2 and 3
    narrow = make_scenario(bars(FLAT, (100.0, 100.1, 99.9, 100.0), (100.0, 100.1, 99.9, 100.0), FLAT),
                           entries=[1, 0, 0, 0], exits=[0, 1, 0, 0], fill="next_open")
    out = run(narrow, slippage_abs=a, slippage_cap="bar")
    assert [f.price for f in out.fills] == [100.1, 99.9]  # bar 1's high, bar 2's low
    assert [f.price for f in run(narrow, slippage_abs=a).fills] == [100.0 + a, 100.0 - a]


def test_percent_of_equity_values_the_open_positions_at_the_decision_close_and_fills_at_the_next_open():
    a00 = [FLAT, FLAT, (100.0, 121.0, 99.0, 120.0), (118.0, 121.0, 117.0, 119.0), (119.0, 120.0, 118.0, 119.0)]
    a01 = [(50.0, 51.0, 49.0, 50.0)] * 2 + [(50.0, 51.0, 49.0, 40.0), (41.0, 42.0, 40.0, 41.0),
                                            (41.0, 42.0, 40.0, 41.0)]
    ohlc = {k: [[a00[t][i], a01[t][i]] for t in range(5)] for i, k in enumerate(("open", "high", "low", "close"))}
    sc = make_scenario(ohlc, entries=[[1, 0], [0, 0], [0, 1], [0, 0], [0, 0]], exits=[[0, 0]] * 5,
                       fill="next_open", fee=0.001)
    out = run(sc, sizing_mode="percent_of_equity", size=None, fraction=0.3, units="fractional")
    q0 = 0.3 * 10_000.0 / 100.0  # bar 0: V is the cash
    cash = 10_000.0 - (q0 * 100.0 + 0.001 * q0 * 100.0)  # filled at bar 1's open, 100
    q1 = 0.3 * (cash + q0 * 120.0) / 40.0  # bar 2: V = cash + A00 at bar 2's close
    assert [(f.asset, f.bar, f.size, f.price) for f in out.fills] == [("A00", 1, q0, 100.0), ("A01", 3, q1, 41.0)]
    whole = run(sc, sizing_mode="percent_of_equity", size=None, fraction=0.3, units="whole")
    assert [f.size for f in whole.fills] == [math.floor(q0), math.floor(q1)]


def test_a_sizing_mode_entry_that_does_not_fit_is_rejected_with_its_size():
    ohlc = bars(FLAT, FLAT, FLAT)
    sc = make_scenario(ohlc, entries=[1, 0, 0], exits=[0] * 3, cash=500.0)
    out = run(sc, sizing_mode="target_value", size=None, value=1000.0, units="fractional")
    assert len(out.fills) == 0
    assert [(r.bar, r.side, r.size, r.reason) for r in out.rejections] == [(0, "buy", 10.0, "signal")]
    # percent_of_equity with the whole equity and a fee: cost == cash, the fee does not fit
    out = run(make_scenario(ohlc, entries=[1, 0, 0], exits=[0] * 3, cash=500.0, fee=0.001),
              sizing_mode="percent_of_equity", size=None, fraction=1.0, units="fractional")
    assert len(out.fills) == 0 and [r.size for r in out.rejections] == [5.0]
    fits = run(make_scenario(ohlc, entries=[1, 0, 0], exits=[0] * 3, cash=500.0),
               sizing_mode="percent_of_equity", size=None, fraction=1.0, units="fractional")
    assert [(f.size, f.price) for f in fits.fills] == [(5.0, 100.0)] and not fits.rejections


def test_a_sizing_mode_entry_of_0_units_places_no_order():
    ohlc = bars(FLAT, FLAT, FLAT)
    out = run(make_scenario(ohlc, entries=[1, 0, 0], exits=[0] * 3),
              sizing_mode="target_value", size=None, value=99.0, units="whole")
    assert len(out.fills) == 0 and not out.rejections


def test_order_rounding_near_integer_makes_a_target_value_entry_whole():
    ohlc = bars(FLAT, FLAT, FLAT)
    sc = make_scenario(ohlc, entries=[1, 0, 0], exits=[0] * 3)
    near = run(sc, sizing_mode="target_value", size=None, value=299.995, units="fractional",
               order_rounding="near_integer")
    far = run(sc, sizing_mode="target_value", size=None, value=299.5, units="fractional",
              order_rounding="near_integer")
    assert [f.size for f in near.fills] == [3.0] and [f.size for f in far.fills] == [2.0]


def test_submit_check_counts_the_new_fee_parts():
    ohlc = bars(FLAT, FLAT, FLAT, FLAT)
    sc = make_scenario(ohlc, entries=[0, 1, 0, 0], exits=[0] * 4, fill="next_open", cash=1001.0, size=10.0)
    assert len(run(sc, submit_check=True).fills) == 1
    out = run(sc, submit_check=True, fixed_fee=1.5)
    assert len(out.fills) == 0 and [(r.bar, r.size) for r in out.rejections] == [(2, 10.0)]
    out = run(sc, submit_check=True, per_share=0.01, min_fee=1.5)
    assert len(out.fills) == 0 and [(r.bar, r.size) for r in out.rejections] == [(2, 10.0)]


def test_rebalance_fills_pay_the_new_costs():
    sc = make_rotation([[100.0], [100.0], [100.0]], [[100.0], [100.0], [100.0]], {0: [0.5]}, cash=1000.0)
    out = run(sc, fixed_fee=1.0, per_share=0.01, min_fee=0.02, slippage_abs=0.1)
    [buy] = out.fills
    assert (buy.size, buy.price, buy.fee) == (5.0, 100.0 + 0.1, max(0.01 * 5.0, 0.02) + 1.0)
    assert out.final_value == 1000.0 - 5.0 * 0.1 - buy.fee
