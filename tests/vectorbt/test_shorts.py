"""Short positions ([positions] sides) through vectorbt, in its own venv, against the reference engine.

Every stored short scenario runs in contract mode and equals the reference engine's result fill by fill at the
project's tolerances; in stock mode each one stock vectorbt runs equals the reference under the profile, and
the others are unsupported naming the knob. Hand-made bars below show each mirrored rule on its own, with the
fills written down.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from adapters.vectorbt import ContractDivergence, Vectorbt
from harness.compare import compare_results
from harness.engines import Unsupported
from harness.explain import reference_result
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.builders import bars, make_scenario

pytestmark = pytest.mark.vectorbt

ENGINE = Vectorbt()
FLAT = (100.0, 101.0, 99.0, 100.0)

SHORT_SCENARIOS = ["short_sl_gap", "short_trail_low", "short_both_next_open", "short_proceeds_fund_long",
                   "rnd_short_close", "rnd_short_next_open", "rnd_both_close", "rnd_both_next_open"]
# what stock vectorbt cannot express in the others, and the knob named
STOCK_UNSUPPORTED = {"short_proceeds_fund_long": "scenario assets",  # several assets: contract mode's call_seq
                     "rnd_short_next_open": "[exits] trailing_stop"}  # stop-loss + trailing: one SL slot


def _flags(values, n):
    arr = np.zeros((n, 1), dtype=np.bool_)
    arr[:, 0] = [bool(v) for v in (values if values is not None else [0] * n)]
    arr.setflags(write=False)
    return arr


def short_scenario(ohlc, *, short_entries, short_exits=None, entries=None, exits=None, **knobs):
    """One asset from inline bars with short signals (sides "short", or "both" with long signals too)."""
    n = len(ohlc["close"])
    base = make_scenario(ohlc, entries=entries or [0] * n, exits=exits or [0] * n, **knobs)
    sides = "both" if entries or exits else "short"
    return replace(base, spec=replace(base.spec, contract=replace(base.spec.contract, sides=sides)),
                   market=replace(base.market, short_entries=_flags(short_entries, n),
                                  short_exits=_flags(short_exits, n)))


def fills_of(result):
    return [(f.bar, f.side, f.size, f.price, f.reason) for f in result.fills]


def contract_and_reference(scenario):
    run = ENGINE.run(scenario)
    expected = reference_result(scenario, scenario.spec.contract)
    assert compare_results(expected, run).status == "pass", compare_results(expected, run).problems
    return fills_of(run)


def stock_and_profile(scenario):
    run = ENGINE.run(scenario, "stock")
    expected = reference_result(scenario, ENGINE.judged_contract(scenario.spec.contract, "stock"))
    assert compare_results(expected, run).status == "pass", compare_results(expected, run).problems
    return fills_of(run)


# ------------------------------------------------------------------------------------- the stored scenarios


@pytest.mark.parametrize("name", SHORT_SCENARIOS)
def test_a_short_scenario_in_contract_mode_is_the_reference_fill_by_fill(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    assert scenario.spec.contract.sides in ("short", "both")
    run = ENGINE.run(scenario)
    check = compare_results(reference_result(scenario, scenario.spec.contract), run)
    assert check.status == "pass", check.problems[:5]
    if scenario.spec.expected:  # hand-built: the fills its spec writes down
        assert [(f.asset, f.bar, f.side, f.reason) for f in run.fills] == \
            [(e["asset"], e["bar"], e["side"], e["reason"]) for e in scenario.spec.expected]


@pytest.mark.parametrize("name", SHORT_SCENARIOS)
def test_a_short_scenario_in_stock_mode_is_the_reference_under_the_profile_or_unsupported(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    if name in STOCK_UNSUPPORTED:
        with pytest.raises(Unsupported) as info:
            ENGINE.run(scenario, "stock")
        assert info.value.knob == STOCK_UNSUPPORTED[name]
        return
    check = compare_results(reference_result(scenario, ENGINE.judged_contract(scenario.spec.contract, "stock")),
                            ENGINE.run(scenario, "stock"))
    assert check.status == "pass", check.problems[:5]


def test_the_random_short_scenarios_reach_every_exit_of_a_short():
    reasons = set()
    for name in ("rnd_short_close", "rnd_short_next_open", "rnd_both_close", "rnd_both_next_open"):
        reasons |= {f.reason for f in ENGINE.run(load_scenario(SCENARIOS_DIR / name)).fills if f.side == "buy"}
    assert reasons == {"signal", "stop_loss", "take_profit", "trailing_stop", "time_exit"}


# ----------------------------------------------------------------------------- each mirrored rule on its own


@pytest.mark.parametrize("fill, sale, cover", [("close", (1, 102.0), (3, 106.0)), ("next_open", (2, 103.0), (4, 107.0)),
                                               ("next_close", (2, 104.0), (4, 108.0))])
def test_a_short_sells_slipped_down_and_covers_slipped_up_in_every_fill_mode(fill, sale, cover):
    rising = bars(*[(100.0 + 2 * k - 1.0, 100.0 + 2 * k + 1.0, 100.0 + 2 * k - 1.5, 100.0 + 2 * k)
                    for k in range(6)])
    scenario = short_scenario(rising, short_entries=[0, 1, 0, 0, 0, 0], short_exits=[0, 0, 0, 1, 0, 0], fill=fill,
                              fee=0.001, slippage=0.002)
    want = [(sale[0], "sell", 10.0, sale[1] * (1 - 0.002), "signal"),
            (cover[0], "buy", 10.0, cover[1] * (1 + 0.002), "signal")]
    assert contract_and_reference(scenario) == stock_and_profile(scenario) == want


@pytest.mark.parametrize("short_asset, rejected", [(0, None), (1, "A00")])
def test_next_open_entries_fill_in_asset_order_a_short_sale_before_funding_a_later_buy(short_asset, rejected):
    # cash 1000; both entries decided on bar 0 fill at bar 1's open: a short sale of 10 at 100 (+1000) and a buy
    # of 10 at 150 (-1500). In asset order the buy fits only when the short sale comes first.
    flat150 = (150.0, 151.0, 149.0, 150.0)
    rows = [(FLAT, flat150)] * 4 if short_asset == 0 else [(flat150, FLAT)] * 4
    ohlc = {k: np.array([[row[j][idx] for j in range(2)] for row in rows])
            for idx, k in enumerate(("open", "high", "low", "close"))}
    long_asset = 1 - short_asset
    entries = np.zeros((4, 2), dtype=int)
    entries[0, long_asset] = 1
    base = make_scenario(ohlc, entries=entries.tolist(), exits=np.zeros((4, 2), dtype=int).tolist(),
                         fill="next_open", cash=1000.0)
    short = np.zeros((4, 2), dtype=np.bool_)
    short[0, short_asset] = True
    scenario = replace(base, spec=replace(base.spec, contract=replace(base.spec.contract, sides="both")),
                       market=replace(base.market, short_entries=short, short_exits=np.zeros((4, 2), np.bool_)))
    run = ENGINE.run(scenario)
    assert compare_results(reference_result(scenario, scenario.spec.contract), run).status == "pass"
    assert [r.asset for r in run.rejections] == ([] if rejected is None else [rejected])
    assert len(run.fills) == (2 if rejected is None else 1)


def test_a_short_sale_credits_its_proceeds_and_a_long_entry_spends_them():
    # cash 1000: the short sale of 10 at 100 (fee 1%: 10) leaves 1990, so the long entry of 10 at 150 +1% fits
    ohlc = {k: np.column_stack([v, w]) for (k, v), w in
            zip(bars(FLAT, FLAT, FLAT, FLAT).items(), bars(*[(150.0, 151.0, 149.0, 150.0)] * 4).values())}
    base = make_scenario(ohlc, entries=[[0, 0], [0, 0], [0, 1], [0, 0]], exits=[[0, 0]] * 4, cash=1000.0, fee=0.01)
    short = np.zeros((4, 2), dtype=np.bool_)
    short[1, 0] = True
    scenario = replace(base, spec=replace(base.spec, contract=replace(base.spec.contract, sides="both")),
                       market=replace(base.market, short_entries=short, short_exits=np.zeros((4, 2), np.bool_)))
    run = ENGINE.run(scenario)
    assert compare_results(reference_result(scenario, scenario.spec.contract), run).status == "pass"
    assert [(f.asset, f.bar, f.side, f.price) for f in run.fills] == [("A00", 1, "sell", 100.0),
                                                                      ("A01", 2, "buy", 150.0)]
    assert run.equity[2] == pytest.approx(1000.0 + 1000.0 - 10.0 - 1500.0 - 15.0 + 1500.0 - 1000.0, rel=1e-12)


def test_a_short_stop_loss_reached_intrabar_covers_at_its_level_slipped_up():
    # short at the close 100: stop 105; bar 2 opens at 102 and its high 106 reaches it: cover at 105 * (1 + s)
    ohlc = bars(FLAT, FLAT, (102.0, 106.0, 101.0, 103.0), FLAT)
    scenario = short_scenario(ohlc, short_entries=[0, 1, 0, 0], stop_loss=0.05, slippage=0.002)
    want = [(1, "sell", 10.0, 100.0 * (1 - 0.002), "signal"), (2, "buy", 10.0, 100.0 * (1 + 0.05) * (1 + 0.002),
                                                               "stop_loss")]
    assert contract_and_reference(scenario) == stock_and_profile(scenario) == want


def test_a_short_take_profit_gapped_below_covers_at_the_open_before_the_stop():
    # short at 100: stop 105, take-profit 90; bar 2 opens at 88 (the take-profit gapped) and its high 106
    # reaches the stop: the contract covers at the open (both gaps first); stock vectorbt checks its SL slot
    # whole first (gaps_first = false) and covers at 105
    ohlc = bars(FLAT, FLAT, (88.0, 106.0, 87.0, 100.0), FLAT)
    scenario = short_scenario(ohlc, short_entries=[0, 1, 0, 0], stop_loss=0.05, take_profit=0.10)
    assert contract_and_reference(scenario)[1] == (2, "buy", 10.0, 88.0, "take_profit")
    assert stock_and_profile(scenario)[1] == (2, "buy", 10.0, 100.0 * (1 + 0.05), "stop_loss")


def test_a_short_take_profit_reached_intrabar_covers_at_its_level():
    ohlc = bars(FLAT, FLAT, (97.0, 98.0, 89.0, 92.0), FLAT)
    scenario = short_scenario(ohlc, short_entries=[0, 1, 0, 0], take_profit=0.10, stop_reference="fill_price",
                              slippage=0.001)
    fill = 100.0 * (1 - 0.001)
    want = (2, "buy", 10.0, fill * (1 - 0.10) * (1 + 0.001), "take_profit")
    assert contract_and_reference(scenario)[1] == stock_and_profile(scenario)[1] == want


@pytest.mark.parametrize("stop_loss, trailing, reason, level", [
    (0.05, 0.03, "trailing_stop", 95.0 * 1.03),  # the trailing level (lwm 95) is the lower: it acts
    (0.02, 0.10, "stop_loss", 100.0 * 1.02),  # the stop-loss level is the lower
])
def test_a_short_stop_loss_and_trailing_stop_are_one_stop_at_the_lower_level(stop_loss, trailing, reason, level):
    # short at 100; bar 2's low 95 lowers the lwm; bar 3 opens at 97 and reaches 103 (contract mode only:
    # stock vectorbt has one SL slot)
    ohlc = bars(FLAT, FLAT, (99.0, 100.0, 95.0, 96.0), (97.0, 103.0, 96.5, 102.0), FLAT)
    scenario = short_scenario(ohlc, short_entries=[0, 1, 0, 0, 0], stop_loss=stop_loss, trailing_stop=trailing)
    assert contract_and_reference(scenario)[1] == (3, "buy", 10.0, level, reason)
    with pytest.raises(Unsupported, match=r"\[exits\] trailing_stop"):
        ENGINE.run(scenario, "stock")


@pytest.mark.parametrize("source, bar, level", [("high", 3, 95.0 * 1.05), ("close", 4, 97.0 * 1.05)])
def test_a_short_trailing_stop_follows_the_lows_or_the_closes_down(source, bar, level):
    # short at 100, trailing 5%: the lows 95, 96 (closes 97, 98); bar 3 reaches 100, above 99.75 (the lows'
    # level) but not 101.85 (the closes'); bar 4 reaches 102
    ohlc = bars(FLAT, FLAT, (99.0, 100.0, 95.0, 97.0), (98.0, 100.0, 96.0, 98.0), (99.0, 102.0, 98.0, 101.0), FLAT)
    scenario = short_scenario(ohlc, short_entries=[0, 1, 0, 0, 0, 0], trailing_stop=0.05, trail_source=source)
    assert contract_and_reference(scenario)[1] == (bar, "buy", 10.0, level, "trailing_stop")
    if source == "high":  # vectorbt's own trailing price: a short's lows
        assert stock_and_profile(scenario)[1] == (bar, "buy", 10.0, level, "trailing_stop")


def test_a_short_exit_at_the_open_beats_a_stop_on_that_bar_next_open():
    # next_open: short at bar 1's open 100 (ref: its close 100, stop 105); the short exit of bar 2 covers at
    # bar 3's open, 101, though bar 3 reaches the stop; stock vectorbt's stop replaces it (open_exit_first)
    ohlc = bars(FLAT, FLAT, FLAT, (101.0, 106.0, 100.0, 104.0), FLAT)
    scenario = short_scenario(ohlc, short_entries=[1, 0, 0, 0, 0], short_exits=[0, 0, 1, 0, 0], fill="next_open",
                              stop_loss=0.05)
    assert contract_and_reference(scenario)[1] == (3, "buy", 10.0, 101.0, "signal")
    assert stock_and_profile(scenario)[1] == (3, "buy", 10.0, 105.0, "stop_loss")


@pytest.mark.parametrize("fill, bar, price", [("close", 4, 104.0), ("next_open", 5, 105.5)])
def test_a_short_time_exit_covers_n_bars_after_the_entry_fill(fill, bar, price):
    rising = bars(*[(100.0 + k + 0.5, 100.0 + k + 1.0, 100.0 + k, 100.0 + k) for k in range(8)])
    scenario = short_scenario(rising, short_entries=[0, 0, 1, 0, 0, 0, 0, 0], fill=fill, max_bars=2)
    want = (bar, "buy", 10.0, price, "time_exit")
    assert contract_and_reference(scenario)[1] == stock_and_profile(scenario)[1] == want


def test_an_entry_of_the_other_side_is_ignored_while_a_position_is_held():
    # long at bar 1; the short entry of bar 2 comes while it is held (ignored, not a reversal); the exit of
    # bar 3 closes it; the short entry of bar 5 opens a short, and the long entry of bar 6 is ignored
    ohlc = bars(*[FLAT] * 8)
    scenario = short_scenario(ohlc, entries=[0, 1, 0, 0, 0, 0, 1, 0], exits=[0, 0, 0, 1, 0, 0, 0, 0],
                              short_entries=[0, 0, 1, 0, 0, 1, 0, 0], short_exits=[0] * 8)
    want = [(1, "buy", 10.0, 100.0, "signal"), (3, "sell", 10.0, 100.0, "signal"), (5, "sell", 10.0, 100.0, "signal")]
    assert contract_and_reference(scenario) == want
    assert stock_and_profile(scenario) == want  # upon_opposite_entry="ignore"


def test_a_cover_vectorbt_cannot_pay_for_is_refused_not_passed_off():
    # cash 1000, short 10 at 100 (cash 2000); the cover at 250 costs 2500: the contract's cover fills (cash
    # -500), vectorbt's buy_nb refuses it for lack of cash
    ohlc = bars(FLAT, FLAT, (250.0, 251.0, 249.0, 250.0), (250.0, 251.0, 249.0, 250.0))
    scenario = short_scenario(ohlc, short_entries=[0, 1, 0, 0], short_exits=[0, 0, 1, 0], cash=1000.0)
    assert fills_of(reference_result(scenario, scenario.spec.contract))[1] == (2, "buy", 10.0, 250.0, "signal")
    with pytest.raises(ContractDivergence, match="did not fill"):
        ENGINE.run(scenario)
    with pytest.raises(Unsupported) as info:
        ENGINE.run(scenario, "stock")
    assert info.value.knob == "[positions] sides"
