"""The cost knobs beside fee and slippage (fixed_fee, per_share, min_fee, slippage_abs) and the signal
sizing modes (percent_of_equity, target_value) in Backtrader's contract mode.

The hand-built knob scenarios write their fills (sizes and fees) and rejections in the spec; Backtrader
must give exactly those. The inline tests pin how each knob reaches Backtrader's machinery and what is
refused; the random scenarios are compared with their goldens.
"""

from __future__ import annotations

import dataclasses
import numpy as np
import pytest

from adapters import _backtrader_costs as costs
from adapters import backtrader as bt_adapter
from harness import golden
from harness.engines import Unsupported
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.builders import bars, make_rotation, make_scenario
from tests.stored import stored_scenario_checks

pytestmark = pytest.mark.backtrader

BACKTRADER = bt_adapter.Backtrader()
KNOB_SCENARIOS = ("knob_fixed_fee", "knob_per_share_min_fee", "knob_slippage_abs", "knob_target_value",
                  "knob_percent_of_equity")
RANDOM_SCENARIOS = ("rnd_costs_commission_close", "rnd_costs_commission_next_open", "rnd_costs_fixed_min_close",
                    "rnd_costs_fixed_min_next_open", "rnd_costs_slip_abs_close", "rnd_costs_slip_abs_next_open",
                    "rnd_costs_slip_fixed_next_open", "rnd_size_pct_equity_close", "rnd_size_pct_equity_next_open",
                    "rnd_size_target_value_close", "rnd_size_target_value_next_open")
CHECKS = stored_scenario_checks(BACKTRADER, "contract")


def _refused(name):
    """Whether the check() hook refuses a scenario the capability table accepts (next_close rotations)."""
    scenario = load_scenario(SCENARIOS_DIR / name)
    try:
        BACKTRADER.check(scenario, BACKTRADER.judged_contract(scenario.spec.contract, "contract"), "contract")
    except Unsupported:
        return True
    return False


RUNS = sorted(name for name in CHECKS if not _refused(name))

OHLC = bars(
    (100.0, 101.0, 99.0, 100.0),   # 0
    (100.0, 101.0, 99.0, 100.0),   # 1
    (101.0, 103.0, 100.0, 102.0),  # 2
    (102.0, 104.0, 96.0, 97.0),    # 3
    (97.0, 99.0, 96.0, 98.0),      # 4
    (98.0, 99.0, 97.0, 98.5),      # 5
)


def with_contract(scenario, **changes):
    spec = dataclasses.replace(scenario.spec, contract=scenario.spec.contract.replace(**changes))
    return dataclasses.replace(scenario, spec=spec)


def rows(result):
    return [(f.bar, f.side, f.size, f.price, f.fee, f.reason) for f in result.fills]


# ---- the hand-built scenarios: exactly the fills and rejections their specs write down

@pytest.mark.parametrize("name", KNOB_SCENARIOS)
def test_a_knob_scenario_gives_exactly_its_spec_outcome(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    assert scenario.spec.hand_written and scenario.spec.expected
    result = BACKTRADER.run(scenario)
    assert golden.spec_disagreement(result, scenario.spec) is None
    assert len(result.fills) == len(scenario.spec.expected)


def test_the_knob_scenarios_pay_their_fees_and_size_their_entries():
    fixed = BACKTRADER.run(load_scenario(SCENARIOS_DIR / "knob_fixed_fee"))
    assert [f.fee for f in fixed.fills] == pytest.approx([0.9 + 1.5, 0.95 + 1.5], rel=1e-12)
    assert [(x.bar, x.size) for x in fixed.rejections] == [(2, 10.0)]  # 1002.5 > 1002: the fixed fee counts
    minimum = BACKTRADER.run(load_scenario(SCENARIOS_DIR / "knob_per_share_min_fee"))
    assert [f.fee for f in minimum.fills] == pytest.approx([4.5 + 1.0, 4.95 + 1.0], rel=1e-12)
    pct = BACKTRADER.run(load_scenario(SCENARIOS_DIR / "knob_percent_of_equity"))
    # bar 3: A00's exit at close[3] is in V before A01's entry is sized: floor(0.5 * 10489.5 / 50)
    assert [(f.asset, f.bar, f.side, f.size) for f in pct.fills] == [
        ("A00", 1, "buy", 50.0), ("A00", 3, "sell", 50.0), ("A01", 3, "buy", 104.0), ("A01", 4, "sell", 104.0)]
    assert [(x.asset, x.bar, x.size) for x in pct.rejections] == [("A01", 2, 100.0)]


# ---- commissions: one CommInfoBase subclass

@pytest.mark.parametrize(("size", "price", "expected"), [
    (50.0, 90.0, 0.001 * 50.0 * 90.0 + 1.0 + 0.5),      # per-share 0.5 under the minimum 1.0
    (400.0, 90.0, 0.001 * 400.0 * 90.0 + 4.0 + 0.5),    # per-share 4.0 over it
    (-400.0, 90.0, 0.001 * 400.0 * 90.0 + 4.0 + 0.5),   # a sell: size unsigned
])
def test_the_commission_scheme_is_percent_plus_minimised_per_share_plus_fixed(size, price, expected):
    info = costs.ContractCommInfo(commission=0.001, per_share=0.01, min_fee=1.0, fixed_fee=0.5)
    assert info.getcommission(size, price) == expected
    assert info.stocklike


def test_the_broker_uses_the_scheme_only_when_an_extra_is_set():
    def comminfo(**changes):
        cerebro_broker = bt_adapter._ContractBroker()
        contract = make_scenario(OHLC, entries=[0] * 6, exits=[0] * 6, fee=0.001).spec.contract.replace(**changes)
        costs.configure_costs(cerebro_broker, contract)
        return cerebro_broker.comminfo[None]

    assert type(comminfo()) is not costs.ContractCommInfo
    for knob in ("fixed_fee", "per_share"):
        info = comminfo(**{knob: 0.25})
        assert type(info) is costs.ContractCommInfo and info.p.commission == 0.001 and getattr(info.p, knob) == 0.25


def test_a_fixed_fee_on_both_fills_and_in_the_cash_check_next_open():
    # entry on bar 1 buys 10 at open[2] = 101: 1010 + 1.01 + 2 = 1013.01
    scenario = with_contract(make_scenario(OHLC, entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0],
                                           fill="next_open", cash=1013.5, fee=0.001), fixed_fee=2.0)
    assert [(f.bar, f.side, f.price, f.fee) for f in BACKTRADER.run(scenario).fills] == [
        (2, "buy", 101.0, pytest.approx(1.01 + 2.0, rel=1e-12)), (4, "sell", 97.0, pytest.approx(0.97 + 2.0, rel=1e-12))]
    short = with_contract(scenario, cash=1012.5)  # 1011.01 without the fixed fee would fit
    r = BACKTRADER.run(short)
    assert r.fills == () and [(x.bar, x.side) for x in r.rejections] == [(2, "buy")]


# ---- absolute slippage

def test_absolute_slippage_alone_is_backtraders_fixed_slippage():
    broker = bt_adapter._ContractBroker()
    contract = make_scenario(OHLC, entries=[0] * 6, exits=[0] * 6).spec.contract.replace(slippage_abs=0.25)
    costs.configure_costs(broker, contract)
    assert broker.p.slip_fixed == 0.25 and broker.p.slip_perc == 0.0 and broker.slip_abs == 0.0
    scenario = with_contract(make_scenario(OHLC, entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0]),
                             slippage_abs=0.25)
    assert [f.price for f in BACKTRADER.run(scenario).fills] == [100.25, 96.75]


@pytest.mark.parametrize("fill", ["close", "next_open", "next_close"])
def test_percentage_and_absolute_slippage_together(fill):
    s, a = 0.002, 0.05
    scenario = with_contract(make_scenario(OHLC, entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0], fill=fill,
                                           slippage=s), slippage_abs=a)
    o, c = OHLC["open"], OHLC["close"]
    buy, sell = {"close": (c[1], c[3]), "next_open": (o[2], o[4]), "next_close": (c[2], c[4])}[fill]
    assert [f.price for f in BACKTRADER.run(scenario).fills] == [buy * (1.0 + s) + a, sell * (1.0 - s) - a]


def test_a_stop_fill_and_its_fill_price_reference_get_both_slippages():
    # close mode, stop 4% below the fill price close[1] * 1.002 + 0.05 = 100.25 (96.24); bar 3's low 96 reaches it
    s, a = 0.002, 0.05
    scenario = with_contract(make_scenario(OHLC, entries=[0, 1, 0, 0, 0, 0], exits=[0] * 6, slippage=s,
                                           stop_loss=0.04, stop_reference="fill_price"), slippage_abs=a)
    ref = 100.0 * (1.0 + s) + a
    assert rows(BACKTRADER.run(scenario)) == [
        (1, "buy", 10.0, ref, 0.0, "signal"), (3, "sell", 10.0, ref * (1.0 - 0.04) * (1.0 - s) - a, 0.0, "stop_loss")]


# ---- sizing

def test_target_value_buys_value_over_the_decision_close_fractional_units():
    scenario = with_contract(make_scenario(OHLC, entries=[0, 0, 1, 0, 0, 0], exits=[0, 0, 0, 0, 1, 0],
                                           fill="next_open"), sizing_mode="target_value", size=None, value=1000.0,
                             units="fractional")
    assert [(f.bar, f.side, f.size, f.price) for f in BACKTRADER.run(scenario).fills] == [
        (3, "buy", 1000.0 / 102.0, 102.0), (5, "sell", 1000.0 / 102.0, 98.0)]


def test_percent_of_equity_next_open_sizes_from_the_value_at_the_decision_close():
    # A00: 0.5 * 10000 / close[0] = 50 units bought at open[1]; its exit signal on bar 3 fills at open[4],
    # so A01's entry decided on bar 3 is sized from a V that still holds A00 at close[3]
    ohlc = {k: np.column_stack([v, v * 0.5]) for k, v in OHLC.items()}
    entries = np.array([[1, 0], [0, 0], [0, 0], [0, 1], [0, 0], [0, 0]])
    exits = np.array([[0, 0], [0, 0], [0, 0], [1, 0], [0, 0], [0, 0]])
    base = make_scenario(ohlc, entries=entries, exits=exits, fill="next_open", fee=0.001, cash=10_000.0, size=10.0)
    base = dataclasses.replace(base, market=dataclasses.replace(base.market, volume=np.full((6, 2), 1000.0)))
    scenario = with_contract(base, sizing_mode="percent_of_equity", size=None, fraction=0.5, units="fractional")
    fills = BACKTRADER.run(scenario).fills
    first = fills[0]
    assert (first.asset, first.bar, first.size) == ("A00", 1, 0.5 * 10_000.0 / 100.0)
    cash = 10_000.0 - first.size * first.price - first.fee
    value = cash + first.size * OHLC["close"][3]  # the exit of bar 3 has not filled yet (next open)
    entry = [f for f in fills if f.asset == "A01"][0]
    assert entry.bar == 4 and entry.size == pytest.approx(0.5 * value / (OHLC["close"][3] * 0.5), rel=1e-12)


def test_sized_entries_with_next_close_fills_are_refused_naming_the_fill():
    scenario = with_contract(make_scenario(OHLC, entries=[0, 1, 0, 0, 0, 0], exits=[0] * 6, fill="next_close"),
                             sizing_mode="target_value", size=None, value=500.0, units="whole")
    with pytest.raises(Unsupported, match=r"\[execution\] fill"):
        BACKTRADER.run(scenario)


@pytest.mark.parametrize("knob", costs.COST_EXTRAS)
def test_the_rotation_path_refuses_the_cost_extras(knob):
    rotation = make_rotation([[10.0, 20.0]] * 3, [[10.0, 20.0]] * 3, {0: [0.5, 0.5]}, fee=0.001)
    changes = {knob: 0.5}
    if knob == "min_fee":
        changes["per_share"] = 0.01
    scenario = with_contract(rotation, **changes)
    with pytest.raises(Unsupported, match=knob if knob != "min_fee" else "per_share"):
        BACKTRADER.run(scenario)


# ---- stock mode: the commission extras only (a user's CommInfoBase subclass)

@pytest.mark.parametrize(("name", "knob"), [("knob_slippage_abs", r"\[costs\] slippage_abs"),
                                            ("knob_target_value", r"\[sizing\] mode")])
def test_stock_mode_refuses_absolute_slippage_and_target_values(name, knob):
    with pytest.raises(Unsupported, match=knob):
        BACKTRADER.run(load_scenario(SCENARIOS_DIR / name), "stock")


def test_stock_mode_sizes_percent_entries_from_the_cash_with_percent_sizer():
    # knob_percent_base_cash writes the fills of percent_base = "cash", the stock profile's value: the third
    # entry is sized from the cash before the same bar's exit, 31 units where the equity would give 100.
    scenario = load_scenario(SCENARIOS_DIR / "knob_percent_base_cash")
    assert scenario.spec.contract.percent_base == "cash"
    assert golden.spec_disagreement(BACKTRADER.run(scenario, "stock"), scenario.spec) is None


def test_stock_mode_pays_the_commission_extras_and_refuses_them_on_rotations():
    result = BACKTRADER.run(load_scenario(SCENARIOS_DIR / "knob_per_share_min_fee"), "stock")
    assert [f.fee for f in result.fills] == pytest.approx([4.5 + 1.0, 4.95 + 1.0], rel=1e-12)
    rotation = with_contract(make_rotation([[10.0, 20.0]] * 3, [[10.0, 20.0]] * 3, {0: [0.5, 0.5]}, units="whole"),
                             fixed_fee=1.0)
    with pytest.raises(Unsupported, match=r"\[costs\] fixed_fee"):
        BACKTRADER.run(rotation, "stock")


# ---- the random scenarios against their goldens

def test_the_random_cost_and_sizing_scenarios_have_goldens_and_are_supported():
    assert set(RANDOM_SCENARIOS) <= set(RUNS)
    for name in RANDOM_SCENARIOS:
        scenario = load_scenario(SCENARIOS_DIR / name)
        assert scenario.market.n_bars >= 500 and scenario.market.n_assets == 1


@pytest.mark.parametrize("name", RUNS)
def test_a_stored_scenario_matches_its_golden(name):
    assert CHECKS[name]() == []
