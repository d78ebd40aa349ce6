"""Short positions ([positions] sides) through ml4t-backtest (its own venv, Python 3.12).

The hand-built short_* scenarios must give, run through ml4t, exactly the fills their specs write down;
the bars below pin the mirrored rules a short-aware adapter could get backwards (the stop at the lower
level, the lwm falling with the lows, the re-entry order a rule exit places in ``next_open`` mode), each
with its expected fills beside it; what ml4t decides by a rule the contract does not have is
unsupported, naming the knob. The random rnd_short_*/rnd_both_* scenarios are compared with their
goldens by test_contract.py (stored-scenario checks) once the goldens are written, and every stock run
with the reference engine by the gate.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from adapters.ml4t import Ml4t
from harness import golden
from harness.compare import rel_diff
from harness.contract import TOLERANCES
from harness.engines import Unsupported
from harness.scenario import SCENARIOS_DIR, Scenario, load_scenario, scenario_names
from tests.builders import bars, make_scenario
from tests.stored import door_refusal

pytestmark = pytest.mark.ml4t

ENGINE = Ml4t()
SHORT_SCENARIOS = [n for n in scenario_names() if load_scenario(SCENARIOS_DIR / n).spec.contract.sides != "long"]
HAND_BUILT = [n for n in SHORT_SCENARIOS if load_scenario(SCENARIOS_DIR / n).spec.hand_written]
FLAT = (100.0, 101.0, 99.0, 100.0)


def short_scenario(*rows, short_entries=(), short_exits=(), entries=(), exits=(), sides="short", **knobs) -> Scenario:
    """One asset from (open, high, low, close) rows; signals are the bars they are on."""
    n = len(rows)
    flags = {name: np.isin(np.arange(n), bars_on) for name, bars_on in
             (("entries", entries), ("exits", exits), ("short_entries", short_entries), ("short_exits", short_exits))}
    scenario = make_scenario(bars(*rows), entries=flags["entries"], exits=flags["exits"], **knobs)
    market = replace(scenario.market, short_entries=flags["short_entries"][:, None],
                     short_exits=flags["short_exits"][:, None])
    spec = replace(scenario.spec, contract=scenario.spec.contract.replace(sides=sides))
    return replace(scenario, spec=spec, market=market)


def trades(result, expected):
    """Whether the run's fills are ``expected``, (bar, side, price, reason) in execution order: bar, side and
    reason exact, the price at the gate's tolerance."""
    got = [(f.bar, f.side, f.price, f.reason) for f in result.fills]
    return len(got) == len(expected) and all(
        (g[0], g[1], g[3]) == (e[0], e[1], e[3]) and rel_diff(e[2], g[2]) <= TOLERANCES.price_rel
        for g, e in zip(got, expected)) or got


# next_close with exit rules: ml4t has no such fill mode (both modes refuse it, as for long scenarios).
NEXT_CLOSE = {"rnd_both_next_close", "rnd_short_sl_tp_next_close"}


def test_the_stored_short_scenarios_are_the_ones_this_file_expects():
    assert set(HAND_BUILT) == {"short_sl_gap", "short_trail_low", "short_both_next_open", "short_proceeds_fund_long"}
    assert set(SHORT_SCENARIOS) - set(HAND_BUILT) == {"rnd_short_close", "rnd_short_next_open", "rnd_both_close",
                                                      "rnd_both_next_open", *NEXT_CLOSE}


@pytest.mark.parametrize("mode", ["contract", "stock"])
@pytest.mark.parametrize("name", sorted(NEXT_CLOSE))
def test_a_next_close_short_scenario_with_exit_rules_is_refused_by_fill(name, mode):
    with pytest.raises(Unsupported) as info:
        ENGINE.run(load_scenario(SCENARIOS_DIR / name), mode)
    assert info.value.knob == "[execution] fill"


@pytest.mark.parametrize("name", [n for n in SHORT_SCENARIOS if n not in NEXT_CLOSE])
def test_contract_mode_takes_every_short_scenario(name):
    assert door_refusal(ENGINE, name, "contract") is None
    result = ENGINE.run(load_scenario(SCENARIOS_DIR / name), "contract")  # the run-time guards raise nothing
    assert any(f.side == "sell" and f.reason == "signal" for f in result.fills)  # it sold short


@pytest.mark.parametrize("name", HAND_BUILT)
def test_contract_mode_fills_a_hand_built_short_scenario_as_its_spec_says(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    assert golden.spec_disagreement(ENGINE.run(scenario, "contract"), scenario.spec) is None


# Stock mode: the hand-built scenarios it runs, where no profile knob moves a fill (the gate checks every
# stock run against the reference engine under the profile; these three equal the spec as well), and the
# ones it refuses, with the knob.
STOCK_RUNS = ["short_proceeds_fund_long", "short_sl_gap", "short_trail_low", "rnd_both_close", "rnd_short_close"]
STOCK_REFUSED = {"short_both_next_open": "[exits] stop_reference", "rnd_short_next_open": "[exits] stop_reference",
                 "rnd_both_next_open": "[exits] stop_reference", **{n: "[execution] fill" for n in NEXT_CLOSE}}


def test_stock_mode_runs_the_close_mode_short_scenarios_and_refuses_the_rest():
    assert sorted(STOCK_RUNS + list(STOCK_REFUSED)) == sorted(SHORT_SCENARIOS)
    for name, knob in STOCK_REFUSED.items():
        with pytest.raises(Unsupported) as info:
            ENGINE.run(load_scenario(SCENARIOS_DIR / name), "stock")
        assert info.value.knob == knob


@pytest.mark.parametrize("name", [n for n in STOCK_RUNS if n in HAND_BUILT])
def test_stock_mode_fills_a_hand_built_short_scenario_as_its_spec_says(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    assert golden.spec_disagreement(ENGINE.run(scenario, "stock"), scenario.spec) is None


# Short entry on bar 1 at its close, 100: stop-loss 1% (level 101), trailing 5% (level 105, lwm 100).
# Bar 2's high 100 reaches neither; its low 95 takes the lwm to 95, the trailing level to 99.75.
# Bar 3's high 101.5 reaches both levels: one stop at the lower level, the trailing stop's 99.75.
SL_AND_TRAIL = ((100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0), (99.0, 100.0, 95.0, 96.0),
                (97.0, 101.5, 96.0, 97.0), FLAT)


@pytest.mark.parametrize("mode", ["contract", "stock"])
def test_a_short_stop_is_the_lower_of_the_stop_loss_and_trailing_levels(mode):
    scenario = short_scenario(*SL_AND_TRAIL, short_entries=[1], stop_loss=0.01, trailing_stop=0.05)
    if mode == "contract":
        assert trades(ENGINE.run(scenario, mode), [(1, "sell", 100.0, "signal"), (3, "buy", 99.75, "trailing_stop")]) is True
    else:
        # Stock ml4t queues them (stop_resolution = "queue"): the stop-loss is checked first and fills at its
        # own level.
        assert trades(ENGINE.run(scenario, mode), [(1, "sell", 100.0, "signal"), (3, "buy", 101.0, "stop_loss")]) is True


def test_a_short_trailing_stop_on_closes_falls_with_the_closes():
    # trail_source = "close": bar 2's close 96 takes the level to 100.8, not the low's 99.75; bar 3's high
    # 101.5 reaches the stop-loss (101) first, the lower level being the trailing stop's 100.8.
    scenario = short_scenario(*SL_AND_TRAIL, short_entries=[1], stop_loss=0.01, trailing_stop=0.05,
                              trail_source="close")
    assert trades(ENGINE.run(scenario, "contract"),
                  [(1, "sell", 100.0, "signal"), (3, "buy", 100.8, "trailing_stop")]) is True


def test_a_short_take_profit_fills_at_its_level_within_the_bar_and_covers_with_slippage():
    # next_open: short entry decided on bar 0 fills at bar 1's open, 100, slipped down to 99.9; ref = close[1]
    # = 100, take-profit level 95. Bar 2's low 94 reaches it: cover at 95, slipped up to 95.095.
    scenario = short_scenario(FLAT, FLAT, (99.0, 100.0, 94.0, 96.0), FLAT, short_entries=[0], take_profit=0.05,
                              fill="next_open", slippage=0.001)
    assert trades(ENGINE.run(scenario, "contract"),
                  [(1, "sell", 99.9, "signal"), (2, "buy", 95.095, "take_profit")]) is True


def test_a_short_time_exit_fills_at_the_open_after_n_bars():
    # next_open, max_bars 2: the short filled at bar 1's open is covered at bar 3's open (decided on bar 2).
    scenario = short_scenario(FLAT, FLAT, FLAT, (102.0, 103.0, 101.0, 102.0), FLAT, short_entries=[0], max_bars=2,
                              fill="next_open")
    assert trades(ENGINE.run(scenario, "contract"),
                  [(1, "sell", 100.0, "signal"), (3, "buy", 102.0, "time_exit")]) is True


def test_a_rule_exit_on_a_bar_with_an_entry_signal_reenters_at_the_next_open_on_either_side():
    # next_open, stop-loss 5%: the short filled at bar 1's open (ref close[1] = 100, level 105) is stopped on
    # bar 2 (high 106) at 105; bar 2's long entry fills at bar 3's open; bar 4's exit at bar 5's open. Then
    # a long stopped on bar 7 re-enters short on that bar's short entry.
    rows = (FLAT, FLAT, (101.0, 106.0, 100.0, 104.0), (104.0, 105.0, 103.0, 104.0), (104.0, 105.0, 103.0, 104.0),
            (104.0, 105.0, 103.0, 104.0), (104.0, 105.0, 103.0, 104.0), (104.0, 105.0, 97.0, 100.0), FLAT, FLAT)
    scenario = short_scenario(*rows, short_entries=[0, 7], entries=[2, 5], exits=[4], sides="both", stop_loss=0.05,
                              fill="next_open")
    # Bar 6's long (ref close[6] = 104, level 98.8) is stopped on bar 7 (low 97) at 98.8; bar 7's short entry
    # fills at bar 8's open.
    assert trades(ENGINE.run(scenario, "contract"), [
        (1, "sell", 100.0, "signal"), (2, "buy", 105.0, "stop_loss"), (3, "buy", 104.0, "signal"),
        (5, "sell", 104.0, "signal"), (6, "buy", 104.0, "signal"), (7, "sell", 98.8, "stop_loss"),
        (8, "sell", 100.0, "signal")]) is True


def test_an_exit_signal_of_the_other_side_leaves_a_position_open():
    # A long exit signal on bar 2 does not cover the short; its short exit on bar 3 does.
    scenario = short_scenario(FLAT, FLAT, FLAT, FLAT, FLAT, short_entries=[1], exits=[2], short_exits=[3],
                              sides="both")
    for mode in ("contract", "stock"):
        assert trades(ENGINE.run(scenario, mode), [(1, "sell", 100.0, "signal"), (3, "buy", 100.0, "signal")]) is True


@pytest.mark.parametrize("mode", ["contract", "stock"])
def test_a_short_sale_ml4t_refuses_by_its_notional_is_unsupported(mode):
    # Cash 1: the contract sells A01 short all the same (cash + proceeds - fee >= 0); ml4t's cash account
    # checks the sale's notional (1000) against the cash and refuses it.
    scenario = load_scenario(SCENARIOS_DIR / "short_proceeds_fund_long")
    poor = replace(scenario, spec=replace(scenario.spec, contract=scenario.spec.contract.replace(cash=1.0)))
    with pytest.raises(Unsupported) as info:
        ENGINE.run(poor, mode)
    assert info.value.knob == "[positions] sides"
    assert "short sale of A01 on bar 1" in str(info.value)


def test_stock_next_open_with_exit_rules_and_shorts_is_unsupported():
    # ml4t's rules run before the open fills: a rule firing on the bar whose open covers the short submits
    # its buy all the same, which finds the asset flat and opens a long (rnd_short_next_open with a fill-price
    # reference does so on bar 491). No open_exit_rules value says that.
    scenario = load_scenario(SCENARIOS_DIR / "rnd_short_next_open")
    c = scenario.spec.contract.replace(stop_reference="fill_price")
    scenario = replace(scenario, spec=replace(scenario.spec, contract=c))
    with pytest.raises(Unsupported) as info:
        ENGINE.run(scenario, "stock")
    assert info.value.knob == "[positions] sides"
    assert ENGINE.run(scenario, "contract").fills  # contract mode holds its rules while the exit fills
    # Without exit rules stock next_open shorts run.
    plain = replace(scenario, spec=replace(scenario.spec, contract=c.replace(stop_loss=None, trailing_stop=None)))
    assert ENGINE.run(plain, "stock").fills


def test_a_buy_after_a_short_sale_the_rule_queued_early_is_unsupported():
    # next_open, cash 1200, stop-loss 5%. A01: short sold at bar 1's open (100; cash 2200), stopped on bar 2
    # at 105 (cash 1150), short again on bar 2's signal: the adapter's rule places that order while ml4t
    # evaluates the stop, ahead of the bar's other orders. A00's entry on bar 2 (1500) fills at bar 3's open
    # too. The contract fills bar 3's entries in asset order: A00's buy first, without A01's proceeds: refused
    # (the reference engine's outcome). ml4t sells A01 first and then fills A00's buy with its proceeds.
    n = 6
    a01 = [(100.0, 101.0, 99.0, 100.0)] * 2 + [(101.0, 106.0, 100.0, 104.0)] + [(104.0, 105.0, 103.0, 104.0)] * 3
    ohlc = {key: np.array([[(150.0, 151.0, 149.0, 150.0)[k], row[k]] for row in a01])
            for k, key in enumerate(("open", "high", "low", "close"))}
    flags = np.zeros((n, 2), dtype=bool)
    entries, short_entries = flags.copy(), flags.copy()
    entries[2, 0] = short_entries[[0, 2], 1] = True
    scenario = make_scenario(ohlc, entries=entries, exits=flags, fill="next_open", cash=1200.0, stop_loss=0.05)
    scenario = replace(scenario, spec=replace(scenario.spec, contract=scenario.spec.contract.replace(sides="both")),
                       market=replace(scenario.market, short_entries=short_entries, short_exits=flags,
                                      volume=np.full((n, 2), 1000.0)))
    with pytest.raises(Unsupported) as info:
        ENGINE.run(scenario, "contract")
    assert info.value.knob == "[execution] reentry_block"
    assert "buy of A00" in str(info.value)


def test_short_runs_are_deterministic():
    scenario = load_scenario(SCENARIOS_DIR / "rnd_both_next_open")
    a, b = ENGINE.run(scenario, "contract"), ENGINE.run(scenario, "contract")
    assert (a.fills, a.rejections, a.equity) == (b.fills, b.rejections, b.equity)
