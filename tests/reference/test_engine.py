"""The reference engine on hand-built bars, expected fills written next to them."""

from __future__ import annotations

import pytest

from engine.reference import Reference

from tests.builders import bars, make_scenario

run = Reference().run

pytestmark = pytest.mark.reference

# open, high, low, close: every open differs from the previous close (overnight gaps).
FIVE_BARS = bars(
    (100.0, 102.0, 99.0, 101.0),   # bar 0
    (102.0, 104.0, 101.0, 103.0),  # bar 1
    (104.0, 106.0, 103.0, 105.0),  # bar 2
    (106.0, 108.0, 105.0, 107.0),  # bar 3
    (108.0, 110.0, 107.0, 109.0),  # bar 4
)


def fills_of(result):
    return [(f.bar, f.side, f.size, f.price, f.fee, f.reason) for f in result.fills]


def test_close_mode_fills_at_the_signal_bars_close():
    # entry on bar 1 -> buy 10 @ close[1] = 103; exit on bar 3 -> sell 10 @ close[3] = 107
    s = make_scenario(FIVE_BARS, entries=[0, 1, 0, 0, 0], exits=[0, 0, 0, 1, 0], fill="close", cash=10_000, size=10)
    r = run(s)
    assert fills_of(r) == [(1, "buy", 10.0, 103.0, 0.0, "signal"), (3, "sell", 10.0, 107.0, 0.0, "signal")]
    # cash 10000 - 1030 = 8970; bar 2 value 8970 + 10*105; after the exit 8970 + 1070 = 10040
    assert r.equity == (10_000.0, 10_000.0, 10_020.0, 10_040.0, 10_040.0)
    assert r.final_value == 10_040.0


def test_next_open_mode_fills_at_the_next_bars_open():
    # entry on bar 1 -> buy @ open[2] = 104; exit on bar 3 -> sell @ open[4] = 108
    s = make_scenario(FIVE_BARS, entries=[0, 1, 0, 0, 0], exits=[0, 0, 0, 1, 0], fill="next_open", size=10)
    r = run(s)
    assert fills_of(r) == [(2, "buy", 10.0, 104.0, 0.0, "signal"), (4, "sell", 10.0, 108.0, 0.0, "signal")]
    # bar 2: 10000 - 1040 + 10*105 = 10010; bar 3: + 10*107 = 10030; bar 4: 8960 + 1080 = 10040
    assert r.equity == (10_000.0, 10_000.0, 10_010.0, 10_030.0, 10_040.0)


def test_fee_is_charged_on_the_slipped_price():
    fee, slip = 0.001, 0.002
    s = make_scenario(FIVE_BARS, entries=[1, 0, 0, 0, 0], exits=[0, 0, 1, 0, 0], fill="close",
                      size=10, fee=fee, slippage=slip)
    r = run(s)
    buy_price = 101.0 * (1 + slip)   # 101.202
    sell_price = 105.0 * (1 - slip)  # 104.79
    assert fills_of(r) == [
        (0, "buy", 10.0, buy_price, fee * 10 * buy_price, "signal"),
        (2, "sell", 10.0, sell_price, fee * 10 * sell_price, "signal"),
    ]
    # the same operations in the same order as the contract states them: exact equality
    cash = (10_000 - (10 * buy_price + fee * 10 * buy_price)) + (10 * sell_price - fee * 10 * sell_price)
    assert r.final_value == cash


def test_slippage_applies_at_the_open_too():
    s = make_scenario(FIVE_BARS, entries=[1, 0, 0, 0, 0], exits=[0, 1, 0, 0, 0], fill="next_open",
                      size=10, slippage=0.01)
    r = run(s)
    assert [(f.bar, f.price) for f in r.fills] == [(1, 102.0 * 1.01), (2, 104.0 * 0.99)]


def test_entries_while_long_and_exits_while_flat_are_ignored():
    # exit on bar 0 while flat: nothing; entries on bars 1 and 2: only the first buys
    s = make_scenario(FIVE_BARS, entries=[0, 1, 1, 0, 0], exits=[1, 0, 0, 1, 0], fill="close", size=10)
    assert [(f.bar, f.side) for f in run(s).fills] == [(1, "buy"), (3, "sell")]


def test_reentry_after_a_next_open_exit():
    # exit on bar 1 fills at open[2]; the entry on bar 2 fills at open[3], a different bar
    s = make_scenario(FIVE_BARS, entries=[1, 0, 1, 0, 0], exits=[0, 1, 0, 0, 0], fill="next_open", size=10)
    assert [(f.bar, f.side, f.price) for f in run(s).fills] == [(1, "buy", 102.0), (2, "sell", 104.0), (3, "buy", 106.0)]


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_a_signal_on_the_last_bar_never_fills(fill):
    s = make_scenario(FIVE_BARS, entries=[0, 0, 0, 0, 1], exits=[0, 0, 0, 0, 0], fill=fill, size=10)
    r = run(s)
    assert r.fills == ()
    assert r.final_value == 10_000.0


def test_last_bar_exit_leaves_the_position_marked_at_the_last_close():
    s = make_scenario(FIVE_BARS, entries=[1, 0, 0, 0, 0], exits=[0, 0, 0, 0, 1], fill="next_open", size=10)
    r = run(s)
    assert [(f.bar, f.side) for f in r.fills] == [(1, "buy")]
    assert r.final_value == 10_000 - 10 * 102.0 + 10 * 109.0


def test_an_entry_that_does_not_fit_in_cash_is_rejected_whole():
    # 10 units at 103 cost 1030 > 1000 cash: no fill at all, not a partial one
    s = make_scenario(FIVE_BARS, entries=[0, 1, 0, 0, 0], exits=[0, 0, 0, 0, 0], fill="close", cash=1_000, size=10)
    r = run(s)
    assert r.fills == ()
    assert [(x.bar, x.side, x.size, x.reason) for x in r.rejections] == [(1, "buy", 10.0, "signal")]
    assert r.final_value == 1_000.0


@pytest.mark.parametrize("name", ["multi_signals_close", "multi_signals_next_open", "knob_open_exit_rules_reject",
                                  "rot_large_close", "rot_whole_rejected_next_open"])
def test_kernel_buffers_are_sized_by_the_orders_not_by_bars_x_assets(name):
    # Fills <= 2 x entry signals (each sell closes what one buy opened); rejections <= 2 x entries;
    # a rotation places at most one order per asset per rebalance bar. Each stored scenario keeps within
    # its bound (the kernel raises on overflow), and the bound is what the buffers hold.
    import numpy as np

    from engine.reference import _raw
    from harness.scenario import SCENARIOS_DIR, load_scenario

    scenario = load_scenario(SCENARIOS_DIR / name)
    market = scenario.market
    fills, n_fills, rejections, n_rejected, _ = _raw(scenario, scenario.spec.contract)
    if scenario.spec.contract.sizing_mode == "target_weights":
        bound = int(np.count_nonzero(market.rebalance)) * market.n_assets
    else:
        bound = 2 * int(np.count_nonzero(market.entries))
    assert fills.shape[0] == rejections.shape[0] == bound < market.n_bars * market.n_assets
    assert 0 < n_fills <= bound and n_rejected <= bound
