"""The contract's cost and sizing knobs vectorbt realises, in both modes: ``[costs] fixed_fee``
(``fixed_fees``) and ``[sizing] mode = "target_value"`` (``size_type="value"`` at the decision close);
the others are unsupported by name.

Hand-built bars with the fills written next to them, the knob_* scenarios' own [[expected]] fills, and
the reference engine (importable in this venv) on every run.
"""

from __future__ import annotations

import dataclasses

import pytest

from adapters.vectorbt import Vectorbt
from harness import golden
from harness.compare import compare_results
from harness.engines import MODES, Unsupported
from harness.explain import reference_result
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.builders import bars, make_scenario

pytestmark = pytest.mark.vectorbt

ENGINE = Vectorbt()


def sized(s, **changes):
    """``s`` with its contract changed (validated: a target_value contract has no ``size``)."""
    return dataclasses.replace(s, spec=dataclasses.replace(s.spec, contract=s.spec.contract.replace(**changes)))


def matches_reference(s, mode="contract"):
    r = ENGINE.run(s, mode)
    check = compare_results(reference_result(s, ENGINE.judged_contract(s.spec.contract, mode)), r)
    assert check.status == "pass", check.problems[:5]
    return r


@pytest.mark.parametrize("mode", MODES)
def test_knob_fixed_fee_gives_its_written_down_fills_and_rejection(mode):
    # next_open, cash 1002: 10 @ 100 + fee 1.0 + fixed 1.5 = 1002.5 does not fit; 10 @ 90 (fee 2.4), 10 @ 95 (2.45)
    s = load_scenario(SCENARIOS_DIR / "knob_fixed_fee")
    r = ENGINE.run(s, mode)
    assert golden.spec_disagreement(r, s.spec) is None
    assert [(f.bar, f.fee) for f in r.fills] == [(4, pytest.approx(2.4, rel=1e-12)),
                                                 (6, pytest.approx(2.45, rel=1e-12))]
    assert [(j.bar, j.size) for j in r.rejections] == [(2, 10.0)]
    if mode == "contract":
        assert golden.check("knob_fixed_fee", r).status == "pass"


def test_knob_target_value_gives_its_written_down_fills():
    # whole units, next_open: floor(1000 / close[t]) units at open[t+1]: 33 @ 31, then 25 @ 39.5
    s = load_scenario(SCENARIOS_DIR / "knob_target_value")
    r = ENGINE.run(s)
    assert golden.spec_disagreement(r, s.spec) is None
    assert [(f.bar, f.size) for f in r.fills] == [(2, 33.0), (4, 33.0), (6, 25.0), (8, 25.0)]
    assert golden.check("knob_target_value", r).status == "pass"


SERIES = bars(
    (30.0, 31.0, 29.0, 30.0),   # bar 0
    (30.0, 31.0, 29.0, 30.0),   # bar 1: entry; 1000 / 30 = 33.33 units
    (31.0, 32.0, 27.0, 31.0),   # bar 2: next_open buy at 31
    (31.0, 33.0, 28.0, 32.0),   # bar 3: exit
    (33.0, 34.0, 32.0, 33.0),   # bar 4
    (33.0, 41.0, 33.0, 40.0),   # bar 5: entry; 1000 / 40 = 25 units
    (39.5, 40.0, 39.0, 39.5),   # bar 6
    (39.5, 40.0, 39.0, 40.0),   # bar 7
)


@pytest.mark.parametrize("fill", ["close", "next_open"])
@pytest.mark.parametrize("units", ["fractional", "whole"])
def test_target_value_buys_value_over_the_decision_close(fill, units):
    s = sized(make_scenario(SERIES, entries=[0, 1, 0, 0, 0, 1, 0, 0], exits=[0, 0, 0, 1, 0, 0, 0, 0], fill=fill,
                            cash=5000.0, fee=0.001, slippage=0.0005),
              sizing_mode="target_value", size=None, value=1000.0, units=units, fixed_fee=0.75)
    r = matches_reference(s)
    decision = {"close": 0, "next_open": 1}[fill]
    want = [1000.0 / 30.0, 1000.0 / 40.0]
    if units == "whole":
        want = [33.0, 25.0]
    assert [f.size for f in r.fills if f.side == "buy"] == want
    assert all(f.bar == b + decision for f, b in zip([f for f in r.fills if f.side == "buy"], [1, 5]))


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_target_value_with_stops_and_every_cost_matches_the_reference(fill):
    s = sized(make_scenario(SERIES, entries=[0, 1, 0, 0, 0, 1, 0, 0], exits=[0] * 8, fill=fill, cash=5000.0,
                            fee=0.001, slippage=0.0005, stop_loss=0.08, stop_reference="fill_price"),
              sizing_mode="target_value", size=None, value=1000.0, units="fractional", fixed_fee=1.25)
    r = matches_reference(s)
    assert "stop_loss" in {f.reason for f in r.fills}


def test_a_whole_unit_buy_vectorbts_cash_check_cuts_short_is_rejected_whole(simulations):
    # close fills, cash 995, value 990: bar 1 buys 990 / 30 = 33 units, 990 + fee 0.99 + fixed 5.0 > 995:
    # rejected whole (vectorbt's allow_partial=True would buy 32; the adapter withholds it, one rerun).
    # Bar 5 buys floor(990 / 40) = 24 units: 960 + 0.96 + 5.0 fits.
    s = sized(make_scenario(SERIES, entries=[0, 1, 0, 0, 0, 1, 0, 0], exits=[0, 0, 0, 1, 0, 0, 0, 0],
                            cash=995.0, fee=0.001),
              sizing_mode="target_value", size=None, value=990.0, units="whole", fixed_fee=5.0)
    r = matches_reference(s)
    assert [(j.bar, j.size) for j in r.rejections] == [(1, 33.0)]
    assert [(f.bar, f.side, f.size) for f in r.fills] == [(5, "buy", 24.0)]
    assert simulations[0] == 2


def test_a_whole_unit_entry_of_0_units_places_no_order():
    # 35 / 30: 1 unit at bar 2's open, sold at bar 4's; 35 / 40 on bar 5: 0 units, no order
    s = sized(make_scenario(SERIES, entries=[0, 1, 0, 0, 0, 1, 0, 0], exits=[0, 0, 0, 1, 0, 0, 0, 0],
                            fill="next_open"),
              sizing_mode="target_value", size=None, value=35.0, units="whole")
    r = matches_reference(s)
    assert [(f.bar, f.side, f.size) for f in r.fills] == [(2, "buy", 1.0), (4, "sell", 1.0)] and not r.rejections


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_stock_target_value_is_size_type_value_at_the_decision_close(fill):
    s = sized(make_scenario(SERIES, entries=[0, 1, 0, 0, 0, 1, 0, 0], exits=[0, 0, 0, 1, 0, 0, 0, 0], fill=fill,
                            cash=5000.0, fee=0.001, slippage=0.0005),
              sizing_mode="target_value", size=None, value=1000.0, units="fractional", fixed_fee=0.75)
    r = matches_reference(s, "stock")
    assert [f.size for f in r.fills if f.side == "buy"] == [1000.0 / 30.0, 1000.0 / 40.0]


def test_stock_target_value_in_whole_units_is_unsupported():
    with pytest.raises(Unsupported) as info:
        ENGINE.run(load_scenario(SCENARIOS_DIR / "knob_target_value"), "stock")
    assert info.value.knob == "[sizing] units"


@pytest.mark.parametrize("mode, name, knob", [
    *((m, "knob_per_share_min_fee", "[costs] per_share") for m in MODES),
    *((m, "knob_slippage_abs", "[costs] slippage_abs") for m in MODES),
    # contract mode: no size type is a fraction of the equity at the decision close
    ("contract", "knob_percent_of_equity", "[sizing] mode"),
    ("contract", "rnd_size_pct_equity_next_open", "[sizing] mode"),
    # stock mode sizes a percent from the cash at the fill (percent_base = "cash_at_fill"), one asset only
    ("stock", "knob_percent_of_equity", "scenario assets"),
])
def test_what_vectorbt_cannot_express_is_unsupported_naming_the_knob(mode, name, knob):
    with pytest.raises(Unsupported) as info:
        ENGINE.run(load_scenario(SCENARIOS_DIR / name), mode)
    assert info.value.knob == knob


def test_stock_percent_sizes_from_the_cash_at_the_fill_fee_included():
    # knob_percent_base_cash_at_fill: 49 units at 100 from 10000 (not 50), 55 at 95 after the first trade.
    scenario = load_scenario(SCENARIOS_DIR / "knob_percent_base_cash_at_fill")
    assert ENGINE.profile["percent_base"] == scenario.spec.contract.percent_base == "cash_at_fill"
    r = ENGINE.run(scenario, "stock")
    assert golden.spec_disagreement(r, scenario.spec) is None
    assert [f.size for f in r.fills] == [49.0, 49.0, 55.0, 55.0]


@pytest.mark.parametrize("mode", MODES)
def test_a_rotation_with_a_fixed_fee_is_unsupported(mode):
    s = load_scenario(SCENARIOS_DIR / "knob_last_bar_fill_rotation")
    s = sized(s, fixed_fee=1.0, last_bar="skip")
    with pytest.raises(Unsupported) as info:
        ENGINE.run(s, mode)
    assert info.value.knob == "[costs] fixed_fee"
