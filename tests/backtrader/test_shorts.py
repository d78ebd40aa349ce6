"""Short positions ([positions] sides) through Backtrader, contract and stock mode, on hand-built bars.

A short entry sells, its exit (signal, stop, take-profit, trailing, time) buys back. Levels mirror a
long's, written with the contract's float expressions next to their value: stop-loss ``ref * (1.0 +
p)``, take-profit ``ref * (1.0 - q)``, trailing ``lwm * (1.0 + p)`` with lwm falling to each bar's low
(``trail_source = "high"``) or close. Bars are (open, high, low, close); cash 10 000, 10 units, no costs
unless a test says otherwise. The hand-built ``short_*`` scenarios are checked against the fills their
specs write down (which witness the reference engine too); the seeded ``rnd_short_*``/``rnd_both_*``
ones against their goldens, once written.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from adapters import backtrader as bt_adapter
from adapters._backtrader_stock import simulate_stock
from harness import golden
from harness.engines import Unsupported
from harness.results import validate_result
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.builders import bars, make_scenario
from tests.stored import stored_scenario_checks

pytestmark = pytest.mark.backtrader

BACKTRADER = bt_adapter.Backtrader()
HAND_BUILT = ("short_sl_gap", "short_trail_low", "short_both_next_open", "short_proceeds_fund_long")
SEEDED = ("rnd_short_close", "rnd_short_next_open", "rnd_both_close", "rnd_both_next_open")
CHECKS = stored_scenario_checks(BACKTRADER, "contract")

PRICE = 1e-12
FLAT = (100.0, 101.0, 99.0, 100.0)


def short_scenario(ohlc, short_entries, short_exits=None, *, entries=None, exits=None, **kw):
    """One asset's bars with short signals (``entries``/``exits``: long ones too, sides = "both")."""
    n = len(ohlc["close"])
    zeros = [0] * n
    scenario = make_scenario(ohlc, entries=entries or zeros, exits=exits or zeros, **kw)
    sides = "both" if entries or exits else "short"
    grid = lambda values: np.asarray(values or zeros, dtype=bool).reshape(n, -1)  # noqa: E731
    market = dataclasses.replace(scenario.market, short_entries=grid(short_entries), short_exits=grid(short_exits),
                                 volume=np.full_like(scenario.market.close, 1000.0))  # one column per asset
    spec = dataclasses.replace(scenario.spec, contract=scenario.spec.contract.replace(sides=sides))
    return dataclasses.replace(scenario, spec=spec, market=market)


def run(scenario, mode="contract"):
    result = BACKTRADER.run(scenario, mode)
    validate_result(result)
    return result


def fills(result):
    return [(f.bar, f.side, f.price, f.reason) for f in result.fills]


def check(result, expected):
    """``expected``: (bar, side, price, reason) per fill, in order; prices to 1e-12."""
    assert [(b, s, r) for b, s, _, r in fills(result)] == [(b, s, r) for b, s, _, r in expected], fills(result)
    for f, (_, _, price, _) in zip(result.fills, expected):
        assert f.price == pytest.approx(price, rel=PRICE, abs=0.0)


# ------------------------------------------------------------------ stored scenarios


@pytest.mark.parametrize("name", HAND_BUILT)
def test_a_hand_built_short_scenario_fills_as_its_spec_says(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    assert scenario.spec.hand_written and scenario.spec.contract.sides != "long"
    result = run(scenario)
    assert golden.spec_disagreement(result, scenario.spec) is None
    assert len(result.fills) == len(scenario.spec.expected)


@pytest.mark.parametrize("name", HAND_BUILT + SEEDED)
def test_a_short_scenario_matches_its_golden(name):
    # fail closed: a short scenario without a golden is a failure here, as it is an error in the gate
    assert (golden.GOLDEN_DIR / name).is_dir(), f"no golden for {name}: `nox -s golden -- --write`"
    assert CHECKS[name]() == []


@pytest.mark.parametrize("name", SEEDED)
def test_a_seeded_short_scenario_trades_both_ways_out(name):
    # Covers by signal and by rule: the scenario exercises the mirrored exits, not only the entries.
    result = run(load_scenario(SCENARIOS_DIR / name))
    covers = {f.reason for f in result.fills if f.side == "buy" and f.reason != "signal"}
    assert covers and covers <= {"stop_loss", "take_profit", "trailing_stop", "time_exit"}


# ------------------------------------------------------------- mirrored exit rules


def test_a_short_stop_loss_reached_during_the_bar_covers_at_its_level():
    # short @ close[1] = 100; level 100 * (1.0 + 0.05) = 105.0; bar 2's high 104 stays below, bar 3's 106
    # reaches it (open 103 below it): buy @ 105.0
    ohlc = bars(FLAT, FLAT, (101.0, 104.0, 100.0, 103.0), (103.0, 106.0, 102.0, 104.0), FLAT)
    result = run(short_scenario(ohlc, [0, 1, 0, 0, 0], stop_loss=0.05))
    check(result, [(1, "sell", 100.0, "signal"), (3, "buy", 100.0 * (1.0 + 0.05), "stop_loss")])
    assert result.final_value == pytest.approx(10_000.0 + 10 * 100.0 - 10 * 105.0, rel=1e-12)


def test_a_short_take_profit_during_the_bar_is_slipped_up():
    # s = 0.01: short @ 100 * (1 - 0.01) = 99.0; ref = close 100, level 100 * (1.0 - 0.1) = 90.0;
    # bar 3 opens at 95 and its low 89 reaches it: buy @ 90.0 * (1 + 0.01)
    ohlc = bars(FLAT, FLAT, (99.0, 100.0, 95.0, 96.0), (95.0, 96.0, 89.0, 92.0), FLAT)
    result = run(short_scenario(ohlc, [0, 1, 0, 0, 0], take_profit=0.1, slippage=0.01))
    check(result, [(1, "sell", 100.0 * (1 - 0.01), "signal"),
                   (3, "buy", 100.0 * (1.0 - 0.1) * (1 + 0.01), "take_profit")])


def test_a_short_take_profit_gapped_at_the_open_covers_at_the_open():
    # level 90.0; bar 3 opens at 88, below it: buy @ 88 * (1 + 0.01), not at the level
    ohlc = bars(FLAT, FLAT, (99.0, 100.0, 95.0, 96.0), (88.0, 89.0, 87.0, 88.5), FLAT)
    result = run(short_scenario(ohlc, [0, 1, 0, 0, 0], take_profit=0.1, slippage=0.01))
    check(result, [(1, "sell", 99.0, "signal"), (3, "buy", 88.0 * (1 + 0.01), "take_profit")])


def test_a_gapped_short_take_profit_beats_a_stop_reached_later_in_the_bar():
    # stop 105.0, take-profit 90.0: bar 3 opens at 89 (take-profit gapped) and its high 106 reaches the
    # stop; the open comes first: buy @ 89 (take_profit). Backtrader's queue tries the stop first.
    ohlc = bars(FLAT, FLAT, FLAT, (89.0, 106.0, 88.0, 100.0), FLAT)
    result = run(short_scenario(ohlc, [0, 1, 0, 0, 0], stop_loss=0.05, take_profit=0.1))
    check(result, [(1, "sell", 100.0, "signal"), (3, "buy", 89.0, "take_profit")])


@pytest.mark.parametrize("source, expected", [
    # lwm 100 -> bar 2's low 95: level 95 * (1.0 + 0.05) = 99.75; bar 3 (low 96.5) leaves it; bar 4's
    # high 100 reaches it
    ("high", [(1, "sell", 100.0, "signal"), (4, "buy", 95.0 * (1.0 + 0.05), "trailing_stop")]),
    # closes: 96 -> 96 * 1.05 = 100.8; bar 3 closes at 97 (stays); bars 4 and 5 reach 100 < 100.8
    ("close", [(1, "sell", 100.0, "signal")]),
])
def test_a_short_trailing_stop_falls_with_the_lows_or_the_closes(source, expected):
    scenario = load_scenario(SCENARIOS_DIR / "short_trail_low")
    spec = dataclasses.replace(scenario.spec, contract=scenario.spec.contract.replace(trail_source=source))
    check(run(dataclasses.replace(scenario, spec=spec)), expected)


def test_a_short_stop_is_the_lower_of_stop_loss_and_trailing_levels():
    # short_trail_low with a stop-loss at 100 * 1.003 = 100.3: the trailing level falls to 99.75 on bar 2,
    # below it, and is the one stop: bar 4's high 100 covers at 99.75 (trailing_stop). Bar 2's high 100
    # does not reach 100.3 (nor the trailing level 105 it is checked against).
    scenario = load_scenario(SCENARIOS_DIR / "short_trail_low")
    spec = dataclasses.replace(scenario.spec, contract=scenario.spec.contract.replace(stop_loss=0.003))
    check(run(dataclasses.replace(scenario, spec=spec)),
          [(1, "sell", 100.0, "signal"), (4, "buy", 95.0 * (1.0 + 0.05), "trailing_stop")])


def test_a_short_stop_loss_below_the_trailing_level_keeps_its_label():
    # stop-loss 100 * 1.02 = 102.0 below the trailing level 100 * 1.05 = 105.0: bar 2's high 103 covers at
    # 102.0 (stop_loss)
    ohlc = bars(FLAT, FLAT, (101.0, 103.0, 100.0, 102.0), FLAT)
    result = run(short_scenario(ohlc, [0, 1, 0, 0], stop_loss=0.02, trailing_stop=0.05))
    check(result, [(1, "sell", 100.0, "signal"), (2, "buy", 100.0 * (1.0 + 0.02), "stop_loss")])


def test_a_short_time_exit_covers_at_the_close_slipped_up():
    # max_bars 2: short @ close[1] * (1 - 0.001); cover on bar 3 at its close 102 * (1 + 0.001)
    ohlc = bars(FLAT, FLAT, FLAT, (101.0, 103.0, 100.0, 102.0), FLAT)
    result = run(short_scenario(ohlc, [0, 1, 0, 0, 0], max_bars=2, slippage=0.001, fee=0.001))
    check(result, [(1, "sell", 100.0 * (1 - 0.001), "signal"), (3, "buy", 102.0 * (1 + 0.001), "time_exit")])
    assert [f.fee for f in result.fills] == pytest.approx([0.001 * 10 * 99.9, 0.001 * 10 * 102.102], rel=1e-9)


def test_next_close_short_entry_and_cover_fill_at_the_next_close():
    ohlc = bars(FLAT, FLAT, (100.0, 101.0, 97.0, 98.0), FLAT, (99.0, 100.0, 95.0, 96.0), FLAT)
    result = run(short_scenario(ohlc, [0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0], fill="next_close"))
    check(result, [(2, "sell", 98.0, "signal"), (4, "buy", 96.0, "signal")])


# ---------------------------------------------------------------------------- cash


def test_a_short_sale_needs_no_cash_but_is_refused_when_its_fee_exceeds_cash_and_proceeds():
    scenario = load_scenario(SCENARIOS_DIR / "short_proceeds_fund_long")
    c = scenario.spec.contract
    thin = run(dataclasses.replace(scenario, spec=dataclasses.replace(scenario.spec, contract=c.replace(cash=1.0))))
    assert [(f.asset, f.bar, f.side) for f in thin.fills][:1] == [("A01", 1, "sell")]
    assert ("A00", 2, "buy") in {(r.asset, r.bar, r.side) for r in thin.rejections}
    # 1 + 1000 - 1002 < 0: the broker refuses the sale itself (Margin), recorded as a refused sell
    poor = dataclasses.replace(scenario, spec=dataclasses.replace(scenario.spec,
                                                                  contract=c.replace(cash=1.0, fixed_fee=1002.0)))
    out = bt_adapter.simulate(poor)
    assert [(r.asset, r.bar, r.side, r.status) for r in out.rejections][:1] == [("A01", 1, "sell", "Margin")]


def test_a_cover_at_the_open_is_paid_before_an_entry_at_the_same_open():
    # next_open, cash 1000. A01 sold short at bar 1's open, 100 (cash 2000). Bar 3's open: A01's cover
    # (1000) comes before A00's long entry (1500), which no longer fits and is refused; taken first,
    # the entry would have fit.
    a00 = [(150.0, 151.0, 149.0, 150.0)] * 5
    a01 = [FLAT] * 5
    ohlc = {k: np.column_stack([bars(*a00)[k], bars(*a01)[k]]) for k in ("open", "high", "low", "close")}
    zeros = [[0, 0]] * 5
    scenario = short_scenario(ohlc, [[0, 1], [0, 0], [0, 0], [0, 0], [0, 0]],
                              [[0, 0], [0, 0], [0, 1], [0, 0], [0, 0]],
                              entries=[[0, 0], [0, 0], [1, 0], [0, 0], [0, 0]], exits=zeros,
                              fill="next_open", cash=1000.0)
    result = run(scenario)
    assert [(f.asset, f.bar, f.side) for f in result.fills] == [("A01", 1, "sell"), ("A01", 3, "buy")]
    assert [(r.asset, r.bar, r.side) for r in result.rejections] == [("A00", 3, "buy")]


# ------------------------------------------------------------------------ stock mode


@pytest.mark.parametrize("name", ["short_both_next_open", "short_proceeds_fund_long"])
def test_stock_backtrader_fills_a_short_scenario_no_profile_knob_moves_as_its_spec_says(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    assert golden.spec_disagreement(run(scenario, "stock"), scenario.spec) is None


def test_stock_backtrader_caps_a_slipped_short_sale_at_the_next_bars_low():
    # short_sl_gap in stock mode: coc books the sale in bar 2's step, and slip_match caps 100 * (1 - 0.001)
    # at bar 2's low, 100 (slippage_cap = "bar"); the gapped stop is slipped to 107 * 1.001 < high 108.
    result = run(load_scenario(SCENARIOS_DIR / "short_sl_gap"), "stock")
    check(result, [(1, "sell", 100.0, "signal"), (3, "buy", 107.0 * (1 + 0.001), "stop_loss")])


def test_stock_backtrader_refuses_a_run_its_gapped_short_take_profit_would_cap_at_the_high():
    # level 90; bar 3 opens at its high, 85: slipped 85 * 1.01 = 85.85 > 85. Stock Backtrader fills at
    # min(high, level) = 85 (bbroker.py:905-907); the profile's slippage_cap caps at the level only (85.85).
    ohlc = bars(FLAT, FLAT, FLAT, (85.0, 85.0, 80.0, 82.0), (82.0, 83.0, 81.0, 82.0))
    scenario = short_scenario(ohlc, [0, 1, 0, 0, 0], take_profit=0.1, slippage=0.01)
    check(run(scenario), [(1, "sell", 99.0, "signal"), (3, "buy", 85.0 * 1.01, "take_profit")])  # contract
    with pytest.raises(Unsupported) as info:
        simulate_stock(scenario)
    assert info.value.knob == "[positions] sides" and "fills at the high" in str(info.value)


def test_stock_backtrader_refuses_a_run_where_checksubmit_refused_a_shorts_protective_buy():
    # cash 500: after the sale (cash 1500) checksubmit pseudo-executes the stop buy, which covers the copy
    # of the position (1500 - 10 * 105 = 450), and the take-profit buy, which then opens a long there
    # (450 - 10 * 90 < 0): Margin, and the OCO group goes with it. The contract has no such check.
    ohlc = bars(FLAT, FLAT, FLAT, FLAT, FLAT)
    scenario = short_scenario(ohlc, [0, 1, 0, 0, 0], stop_loss=0.05, take_profit=0.1, cash=500.0)
    check(run(scenario), [(1, "sell", 100.0, "signal")])
    with pytest.raises(Unsupported) as info:
        simulate_stock(scenario)
    assert info.value.knob == "[positions] sides" and "limit order" in str(info.value)


def test_stock_backtrader_refuses_a_run_where_an_entry_was_refused_behind_a_shorts_protective_buy():
    # short_proceeds_fund_long with a trailing stop: A01's protective buy, placed when the sale is booked,
    # is pseudo-executed ahead of A00's entry (cash 2000 - 10 * 105 < 1500): stock Backtrader refuses the
    # entry the reference's submit_check takes.
    scenario = load_scenario(SCENARIOS_DIR / "short_proceeds_fund_long")
    spec = dataclasses.replace(scenario.spec, contract=scenario.spec.contract.replace(trailing_stop=0.05,
                                                                                      trail_source="close"))
    with pytest.raises(Unsupported) as info:
        simulate_stock(dataclasses.replace(scenario, spec=spec))
    assert info.value.knob == "[positions] sides" and "entry" in str(info.value)


def test_a_short_trailing_stop_on_lows_is_unsupported_in_stock_mode():
    with pytest.raises(Unsupported) as info:
        run(load_scenario(SCENARIOS_DIR / "short_trail_low"), "stock")
    assert info.value.knob == "[exits] trail_source"
