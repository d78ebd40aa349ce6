"""Exit rules in the reference engine, on hand-built bars with the expected fills written down.

The hand-built scenarios in scenarios/ write their expected fills and refused
orders in scenario.toml ([[expected]], [[rejected]]); each is one test here. The tests below them pin
the rules those scenarios do not isolate.
"""

from __future__ import annotations

import pytest

from engine.reference import Reference, simulate

from harness import golden
from harness.contract import BEHAVIOUR_DEFAULTS, COST_EXTRAS, KNOB_BY_FIELD, SIGNAL_SIZING_MODES
from harness.scenario import SCENARIOS_DIR, load_scenario, load_spec, scenario_names
from tests.builders import bars, make_scenario

run = Reference().run

pytestmark = pytest.mark.reference

HAND_BUILT = [n for n in scenario_names() if load_spec(SCENARIOS_DIR / n).hand_written]


def test_there_are_hand_built_exit_scenarios():
    assert len(HAND_BUILT) >= 15


@pytest.mark.parametrize("name", HAND_BUILT)
def test_hand_built_scenario_fills_as_written_in_its_spec(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    assert golden.spec_disagreement(run(scenario), scenario.spec) is None


# The knobs a knob_* scenario may set away from the contract's rule: behaviour knobs, and the cost knobs
# beside fee and slippage (their defaults switch them off).
KNOB_OFF = {**BEHAVIOUR_DEFAULTS, **{f: KNOB_BY_FIELD[f].default for f in COST_EXTRAS}}


@pytest.mark.parametrize("name", [n for n in scenario_names() if n.startswith("knob_")])
def test_a_knob_scenario_witnesses_its_knobs(name):
    # Its written-down outcome is the knob's: with its knobs back at the contract's values it moves; a
    # scenario of a sizing mode other than fixed and target_weights moves when every entry buys its first
    # entry's size.
    scenario = load_scenario(SCENARIOS_DIR / name)
    spec = scenario.spec
    contract = spec.contract
    off = {f for f, v in KNOB_OFF.items() if getattr(contract, f) != v}
    sized = contract.sizing_mode in SIGNAL_SIZING_MODES and contract.sizing_mode != "fixed"
    assert spec.hand_written and (off or sized)
    if off:
        assert golden.spec_disagreement(simulate(scenario, contract.replace(**KNOB_OFF)), spec)
    if sized:
        assert all(e["size"] is not None for e in spec.expected)
        fixed = contract.replace(sizing_mode="fixed", size=spec.expected[0]["size"], fraction=None, value=None,
                                 units=None)
        assert golden.spec_disagreement(simulate(scenario, fixed), spec)


FLAT = (100.0, 101.0, 99.0, 100.0)


def fills(result):
    return [(f.bar, f.side, f.price, f.reason) for f in result.fills]


def test_stop_reference_fill_price_uses_the_slipped_entry_price():
    # entry at close 100 with 1% slippage -> fill 101; stop 10% below the fill = 90.9, below the close = 90
    ohlc = bars(FLAT, FLAT, (100.0, 101.0, 90.5, 95.0), FLAT)
    by_fill = run(make_scenario(ohlc, entries=[0, 1, 0, 0], exits=[0] * 4, slippage=0.01,
                                stop_loss=0.1, stop_reference="fill_price"))
    by_close = run(make_scenario(ohlc, entries=[0, 1, 0, 0], exits=[0] * 4, slippage=0.01,
                                 stop_loss=0.1, stop_reference="close"))
    entry = 100.0 * 1.01
    assert fills(by_fill) == [(1, "buy", entry, "signal"), (2, "sell", entry * (1 - 0.1) * (1 - 0.01), "stop_loss")]
    assert fills(by_close) == [(1, "buy", entry, "signal")]  # low 90.5 stays above 90


def test_stop_and_take_profit_fills_pay_slippage_and_fees():
    ohlc = bars(FLAT, FLAT, (100.0, 111.0, 99.0, 110.0), FLAT)
    r = run(make_scenario(ohlc, entries=[0, 1, 0, 0], exits=[0] * 4, fee=0.002, slippage=0.001, take_profit=0.05))
    [buy, sell] = r.fills
    tp_level = 100.0 * (1 + 0.05)
    assert (sell.bar, sell.reason, sell.price) == (2, "take_profit", tp_level * (1 - 0.001))
    assert sell.fee == 0.002 * 10 * sell.price


def test_stops_are_not_checked_on_the_entry_bar_in_next_open_mode():
    # entry fills at bar 2's open (100); bar 2's own low (80) is below the stop but is not checked
    ohlc = bars(FLAT, FLAT, (100.0, 101.0, 80.0, 100.0), FLAT, FLAT)
    r = run(make_scenario(ohlc, entries=[0, 1, 0, 0, 0], exits=[0] * 5, fill="next_open",
                          stop_loss=0.05, stop_reference="fill_price"))
    assert fills(r) == [(2, "buy", 100.0, "signal")]


def test_trailing_hwm_starts_at_the_reference_not_the_entry_bars_high():
    # close mode: entry bar 1 has high 130, but the trail starts at ref 100 (level 90)
    ohlc = bars(FLAT, (100.0, 130.0, 99.0, 100.0), (100.0, 101.0, 95.0, 96.0), FLAT)
    r = run(make_scenario(ohlc, entries=[0, 1, 0, 0], exits=[0] * 4, trailing_stop=0.1))
    assert fills(r) == [(1, "buy", 100.0, "signal")]


def test_trailing_above_stop_loss_is_labelled_trailing_and_below_is_stop_loss():
    # stop-loss 5% (95) and trailing 10%: hwm 100 -> level 90 < 95: a drop to 94 is a stop_loss
    low_trail = bars(FLAT, FLAT, (99.0, 99.0, 94.0, 95.0), FLAT)
    r = run(make_scenario(low_trail, entries=[0, 1, 0, 0], exits=[0] * 4, stop_loss=0.05, trailing_stop=0.1))
    assert fills(r)[-1] == (2, "sell", 95.0, "stop_loss")
    # after a high of 120 the trailing level 108 is above 95: the same kind of drop is a trailing_stop
    high_trail = bars(FLAT, FLAT, (100.0, 120.0, 99.0, 115.0), (115.0, 116.0, 100.0, 101.0), FLAT)
    r = run(make_scenario(high_trail, entries=[0, 1, 0, 0, 0], exits=[0] * 5, stop_loss=0.05, trailing_stop=0.1))
    assert fills(r)[-1] == (3, "sell", 120.0 * (1 - 0.1), "trailing_stop")


def test_a_time_exit_due_on_the_last_bar_does_not_fill():
    ohlc = bars(FLAT, FLAT, FLAT, FLAT)
    r = run(make_scenario(ohlc, entries=[0, 1, 0, 0], exits=[0] * 4, max_bars=2))
    assert [f.side for f in r.fills] == ["buy"]


def test_an_exit_signal_on_the_time_exit_bar_is_labelled_signal():
    ohlc = bars(FLAT, FLAT, FLAT, FLAT, FLAT)
    for fill in ("close", "next_open"):
        r = run(make_scenario(ohlc, entries=[1, 0, 0, 0, 0], exits=[0, 0, 1, 0, 0], fill=fill, max_bars=2))
        assert [f.reason for f in r.fills] == ["signal", "signal"], fill


def test_next_open_time_exit_of_one_bar_is_decided_on_the_entry_bar():
    ohlc = bars(FLAT, (101.0, 102.0, 100.0, 101.0), (102.0, 103.0, 101.0, 102.0), (103.0, 104.0, 102.0, 103.0))
    r = run(make_scenario(ohlc, entries=[1, 0, 0, 0], exits=[0] * 4, fill="next_open", max_bars=1))
    assert fills(r) == [(1, "buy", 101.0, "signal"), (2, "sell", 102.0, "time_exit")]


def test_next_open_reentry_after_a_stop_fills_at_the_next_open():
    # the stop fires on bar 3; the entry signal on bar 3 fills at bar 4's open (another bar: allowed)
    ohlc = bars(FLAT, FLAT, FLAT, (99.0, 100.0, 90.0, 92.0), (93.0, 94.0, 92.0, 93.0), FLAT)
    r = run(make_scenario(ohlc, entries=[0, 1, 0, 1, 0, 0], exits=[0] * 6, fill="next_open", stop_loss=0.05))
    assert [(f.bar, f.side, f.reason) for f in r.fills] == [(2, "buy", "signal"), (3, "sell", "stop_loss"), (4, "buy", "signal")]


def two_assets(rows_a, rows_b):
    import numpy as np

    a, b = np.array(rows_a, dtype=float), np.array(rows_b, dtype=float)
    return {k: np.stack([a[:, c], b[:, c]], axis=1) for c, k in enumerate(("open", "high", "low", "close"))}


def test_an_intrabar_stop_on_one_asset_pays_for_a_close_entry_on_another():
    # close mode, cash 1550, 10 units: A01 buys at bar 0's close (1000, cash 550). On bar 1 A01's stop
    # (95) fills during the bar (+950) before A00's entry at bar 1's close (600) needs the cash.
    ohlc = two_assets(
        [(60, 61, 59, 60), (60, 61, 59, 60), (60, 61, 59, 60)],
        [(100, 101, 99, 100), (100, 101, 94, 96), (96, 97, 95, 96)],
    )
    r = run(make_scenario(ohlc, entries=[[0, 1], [1, 0], [0, 0]], exits=[[0, 0]] * 3, cash=1550, stop_loss=0.05))
    assert [(f.asset, f.bar, f.side, f.price, f.reason) for f in r.fills] == [
        ("A01", 0, "buy", 100.0, "signal"), ("A01", 1, "sell", 95.0, "stop_loss"), ("A00", 1, "buy", 60.0, "signal")]
    assert r.rejections == ()


def test_next_open_exits_at_the_open_pay_for_entries_at_the_same_open():
    # next_open, cash 1100: A01 holds 10 (bought at bar 1's open, 100). Bar 1 signals: exit A01, enter A00.
    # At bar 2's open the exit (+1000) is booked before the entry (1000) although A00 comes first.
    ohlc = two_assets(
        [(100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100)],
        [(100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100)],
    )
    r = run(make_scenario(ohlc, entries=[[0, 1], [1, 0], [0, 0]], exits=[[0, 0], [0, 1], [0, 0]],
                          fill="next_open", cash=1100))
    assert [(f.asset, f.bar, f.side) for f in r.fills] == [("A01", 1, "buy"), ("A01", 2, "sell"), ("A00", 2, "buy")]
    assert r.rejections == ()
