"""vectorbt in stock mode (its own venv): a plain ``vbt.Portfolio.from_signals``.

The gate compares every stock run with the reference engine under the profile;
the reference engine runs in this venv too, so these tests do the same here:
every stored scenario stock vectorbt supports gives, fill by fill, the
reference engine's result under (scenario contract + profile). Further: each
``knob_*`` scenario whose knobs are all vectorbt's gives, through stock
vectorbt, exactly the fills its spec writes down, every profile knob has such
a scenario and a hand-made bar series showing it, the evidence cites source
lines of the installed vectorbt that say what it says, the stock run is a
plain ``from_signals`` call (the recording run that labels stop exits makes
the same records), and what the public API cannot express is
:class:`Unsupported` naming the knob.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import vectorbt

from adapters import _vectorbt_stock as stock
from adapters.vectorbt import Vectorbt
from harness import golden
from harness.compare import compare_results
from harness.contract import BEHAVIOUR_DEFAULTS, KNOB_BY_FIELD
from harness.engines import Unsupported
from harness.explain import reference_result
from harness.scenario import SCENARIOS_DIR, load_scenario, load_spec
from tests.builders import bars, make_rotation, make_scenario
from tests.stored import engine_test_scenarios

pytestmark = pytest.mark.vectorbt

ENGINE = Vectorbt()
PROFILE = ENGINE.profile
FLAT = (100.0, 101.0, 99.0, 100.0)
NB = Path(vectorbt.__file__).parent / "portfolio" / "nb.py"
BASE = Path(vectorbt.__file__).parent / "portfolio" / "base.py"


def knobs_set(name):
    c = load_spec(SCENARIOS_DIR / name).contract
    return {k: getattr(c, k) for k, v in BEHAVIOUR_DEFAULTS.items() if getattr(c, k) != v}


def _supported(name):
    try:
        contract = ENGINE.judged_contract(load_spec(SCENARIOS_DIR / name).contract, "stock")
        ENGINE.check(load_scenario(SCENARIOS_DIR / name), contract, "stock")
    except Unsupported:
        return False
    return True


STOCK_SCENARIOS = [n for n in engine_test_scenarios() if _supported(n)]
# The knob_* scenarios whose knobs are all vectorbt's, at vectorbt's values, and that stock vectorbt runs
# (knob_last_bar_fill_rotation is a rotation).
KNOB_SCENARIOS = [n for n in STOCK_SCENARIOS
                  if n.startswith("knob_") and all(PROFILE.get(k) == v for k, v in knobs_set(n).items())]


def fills_of(result):
    return [(f.bar, f.side, f.size, f.price, f.reason) for f in result.fills]


def judged(scenario):
    return ENGINE.judged_contract(scenario.spec.contract, "stock")


def expected_under_profile(scenario):
    return reference_result(scenario, judged(scenario))


def test_the_stock_mode_covers_signal_scenarios_of_every_fill_mode():
    fills = {load_spec(SCENARIOS_DIR / n).contract.fill for n in STOCK_SCENARIOS}
    assert fills == {"close", "next_open", "next_close"} and len(STOCK_SCENARIOS) >= 25


@pytest.mark.parametrize("name", STOCK_SCENARIOS)
def test_a_stock_run_is_the_reference_under_the_profile_fill_by_fill(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    check = compare_results(expected_under_profile(scenario), ENGINE.run(scenario, "stock"))
    assert check.status == "pass", check.problems[:5]


def test_every_profile_knob_has_a_hand_built_scenario():
    covered = set()
    for name in KNOB_SCENARIOS:
        covered |= set(knobs_set(name))
    assert covered == set(PROFILE)


@pytest.mark.parametrize("name", KNOB_SCENARIOS)
def test_stock_vectorbt_does_what_each_knob_scenario_writes_down(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    assert scenario.spec.hand_written
    assert golden.spec_disagreement(ENGINE.run(scenario, "stock"), scenario.spec) is None


# ---------------------------------------------------------------- one hand-made bar series per profile knob


def _both(scenario):
    """(stock vectorbt's fills, the reference's under the profile, the reference's under the contract)."""
    run = ENGINE.run(scenario, "stock")
    return fills_of(run), fills_of(expected_under_profile(scenario)), fills_of(reference_result(scenario,
                                                                                                scenario.spec.contract))


def test_last_bar_fill_a_signal_on_the_last_bar_fills_at_its_close():
    ohlc = bars(FLAT, FLAT, (100.0, 103.0, 99.0, 102.0), (102.0, 104.0, 101.0, 103.0))
    got, profile, contract = _both(make_scenario(ohlc, entries=[0, 1, 0, 0], exits=[0, 0, 0, 1]))
    assert got == profile == [(1, "buy", 10.0, 100.0, "signal"), (3, "sell", 10.0, 103.0, "signal")]
    assert contract == [(1, "buy", 10.0, 100.0, "signal")]  # the contract: nothing decided on the last bar fills
    entry_last = make_scenario(ohlc, entries=[0, 0, 0, 1], exits=[0, 0, 0, 0])
    assert fills_of(ENGINE.run(entry_last, "stock")) == [(3, "buy", 10.0, 103.0, "signal")]


def test_open_exit_first_false_a_stop_replaces_the_exit_at_the_open():
    # next_open, stop 5% below the fill (100): the exit signal of bar 2 would fill at bar 3's open; bar 3's
    # low 94 reaches the stop first
    ohlc = bars(FLAT, FLAT, FLAT, (100.0, 101.0, 94.0, 100.0), FLAT)
    scenario = make_scenario(ohlc, entries=[1, 0, 0, 0, 0], exits=[0, 0, 1, 0, 0], fill="next_open",
                             stop_loss=0.05, stop_reference="fill_price", slippage=0.001, fee=0.001)
    got, profile, contract = _both(scenario)
    fill = 100.0 * (1 + 0.001)
    stop = fill * (1 - 0.05) * (1 - 0.001)
    assert got == profile == [(1, "buy", 10.0, fill, "signal"), (3, "sell", 10.0, stop, "stop_loss")]
    assert contract[1] == (3, "sell", 10.0, 100.0 * (1 - 0.001), "signal")


def test_gaps_first_false_the_stop_is_checked_whole_before_the_take_profit():
    # close fills at 100: stop 95, take-profit 110; bar 2 opens at 112 (a take-profit gap) and its low 94
    # reaches the stop: vectorbt's SL slot, checked first, fills at its level
    ohlc = bars(FLAT, FLAT, (112.0, 113.0, 94.0, 100.0), FLAT)
    scenario = make_scenario(ohlc, entries=[0, 1, 0, 0], exits=[0, 0, 0, 0], stop_loss=0.05, take_profit=0.10)
    got, profile, contract = _both(scenario)
    assert got == profile == [(1, "buy", 10.0, 100.0, "signal"), (2, "sell", 10.0, 95.0, "stop_loss")]
    assert contract[1] == (2, "sell", 10.0, 112.0, "take_profit")


def test_stop_fills_are_slipped_as_the_contract_says():
    # stop_exit_price="stopmarket": a take-profit reached intrabar fills at level * (1 - s), as slip_take_profit
    # = true (the contract) says; a trailing stop on the highs is vectorbt's own hwm
    ohlc = bars(FLAT, FLAT, (101.0, 111.0, 100.0, 110.0), FLAT)
    tp = make_scenario(ohlc, entries=[0, 1, 0, 0], exits=[0, 0, 0, 0], slippage=0.002, take_profit=0.05)
    got, profile, contract = _both(tp)
    assert got == profile == contract
    assert got[1] == (2, "sell", 10.0, 100.0 * (1 + 0.05) * (1 - 0.002), "take_profit")
    trail = make_scenario(bars(FLAT, FLAT, (100.0, 110.0, 99.0, 109.0), (108.0, 108.0, 98.0, 100.0), FLAT),
                          entries=[0, 1, 0, 0, 0], exits=[0] * 5, slippage=0.002, trailing_stop=0.05)
    got, profile, contract = _both(trail)
    assert got == profile == contract
    assert got[1] == (3, "sell", 10.0, 110.0 * (1 - 0.05) * (1 - 0.002), "trailing_stop")


@pytest.mark.parametrize("fill, bar, price", [("close", 4, 104.0), ("next_open", 5, 105.5),
                                              ("next_close", 5, 105.0)])
def test_a_time_exit_is_counted_from_the_entry_fill(fill, bar, price):
    # vectorbt 1.2.0 has no time stop: the user's signal_func_nb exits once the position is 2 bars old
    rising = bars(*[(100.0 + k + 0.5, 100.0 + k + 1.0, 100.0 + k, 100.0 + k) for k in range(8)])
    got, profile, contract = _both(make_scenario(rising, entries=[0, 0, 1, 0, 0, 0, 0, 0], exits=[0] * 8, fill=fill,
                                                 max_bars=2))
    assert got == profile == contract
    assert got[1] == (bar, "sell", 10.0, price, "time_exit")


def test_a_stop_on_the_time_exit_bar_wins():
    ohlc = bars(FLAT, FLAT, FLAT, (100.0, 101.0, 94.0, 100.0), FLAT)
    got, profile, _ = _both(make_scenario(ohlc, entries=[0, 1, 0, 0, 0], exits=[0] * 5, max_bars=2, stop_loss=0.05))
    assert got == profile == [(1, "buy", 10.0, 100.0, "signal"), (3, "sell", 10.0, 95.0, "stop_loss")]


def test_a_rotation_is_from_orders_target_percent_and_a_last_bar_rebalance_fills():
    # 1% fee: the second 60% buy of bar 0 does not fit and is refused whole; the last bar's rebalance fills
    rotation = make_rotation([[100.0, 50.0]] * 4, [[100.0, 50.0], [100.0, 50.0], [110.0, 40.0], [100.0, 50.0]],
                             {0: [0.6, 0.6], 2: [0.0, 1.0], 3: [0.5, 0.5]}, fill="close", cash=1000.0, fee=0.01,
                             slippage=0.001)
    run = ENGINE.run(rotation, "stock")
    expected = expected_under_profile(rotation)
    assert compare_results(expected, run).status == "pass"
    got = [(f.bar, f.asset, f.side, f.size) for f in run.fills]
    assert got[:2] == [(0, "A00", "buy", 6.0), (2, "A00", "sell", 6.0)] and got[2][:3] == (3, "A00", "buy")
    assert [(r.bar, r.asset, r.size) for r in run.rejections][0] == (0, "A01", 12.0)
    contract = reference_result(rotation, rotation.spec.contract)
    assert [f.bar for f in contract.fills] == [0, 2]  # the contract: a last-bar rebalance never fills


# ---------------------------------------------------------------------------- what the public API cannot say


@pytest.mark.parametrize("knobs, knob", [
    (dict(stop_loss=0.05, trailing_stop=0.08), "[exits] trailing_stop"),  # one SL slot
    (dict(trailing_stop=0.08, trail_source="close"), "[exits] trail_source"),  # vectorbt's hwm is the highs
    (dict(stop_loss=0.05, fill="next_close"), "[execution] fill"),  # stops checked before the shifted exit
])
def test_what_the_public_api_cannot_express_is_unsupported(knobs, knob):
    scenario = make_scenario(bars(FLAT, FLAT, FLAT), entries=[1, 0, 0], exits=[0, 0, 0], **knobs)
    with pytest.raises(Unsupported) as info:
        ENGINE.run(scenario, "stock")
    assert info.value.knob == knob


@pytest.mark.parametrize("fill, units, knob", [
    ("next_open", "fractional", "[execution] fill"),  # from_orders sizes at the order price, the open
    ("close", "whole", "[sizing] units"),  # size_granularity cuts a buy short, or refuses unwhole orders
])
def test_rotations_other_than_close_fractional_are_unsupported(fill, units, knob):
    rotation = make_rotation([[100.0]] * 4, [[100.0]] * 4, {0: [1.0]}, fill=fill, cash=10_000.0, units=units)
    with pytest.raises(Unsupported) as info:
        ENGINE.run(rotation, "stock")
    assert info.value.knob == knob


def test_several_assets_with_signals_are_unsupported():
    with pytest.raises(Unsupported) as info:
        ENGINE.run(load_scenario(SCENARIOS_DIR / "multi_signals_next_close"), "stock")
    assert info.value.knob == "scenario assets"


def test_a_behaviour_knob_other_than_vectorbts_is_unsupported():
    with pytest.raises(Unsupported) as info:
        ENGINE.run(load_scenario(SCENARIOS_DIR / "knob_slip_take_profit_false"), "stock")
    assert info.value.knob == "[costs] slip_take_profit"


# ------------------------------------------------------------------------------- plain from_signals, evidence


@pytest.mark.parametrize("name", ["exit_sl_tp_same_bar", "rnd_trail_high_next_open", "knob_open_exit_first_false"])
def test_the_recording_run_makes_the_stock_runs_records(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    contract = judged(scenario)
    pf = stock.simulate(scenario, contract)
    observed, asked = stock.simulate(scenario, contract, observe=True)
    assert stock._same_records(pf.order_records, observed.order_records)
    assert stock._same_records(pf.log_records, observed.log_records)
    assert len(pf.order_records) >= 2 and asked.any()
    # without a time exit the stock run passes no callback: vectorbt's static simulator
    assert contract.max_bars is None
    assert "signal_func_nb" not in stock._arguments(contract) and "adjust_sl_func_nb" not in stock._arguments(contract)


def test_the_profile_is_documented_and_witnessed():
    assert set(ENGINE.profile_evidence) == set(PROFILE)
    for knob, value in PROFILE.items():
        assert value != KNOB_BY_FIELD[knob].default
        assert ENGINE.witness["stock"][knob][0] == "native"
    assert set(ENGINE.witness["stock"]) == set(ENGINE.capabilities["stock"]) | set(PROFILE)


@pytest.mark.parametrize("path, line, text", [
    (NB, 1861, "def get_stop_price_nb("),
    (NB, 1877, "if open <= stop_price:"),
    (NB, 1879, "if low <= stop_price <= high:"),
    (NB, 1916, "def simulate_from_signals_nb("),
    (NB, 2044, "for i in range(target_shape[0]):"),
    (NB, 2108, "if np.isnan(stop_price) and not np.isnan(tp_curr_stop[col]):"),
    (NB, 2133, "# Stop signal comes first"),
    (NB, 2150, "else:"),
    (NB, 2151, "# Read signals directly from arrays"),
    (NB, 2418, "def simulate_from_signal_func_nb("),
    (NB, 2563, "for i in range(target_shape[0]):"),
    (NB, 2652, "if np.isnan(stop_price) and not np.isnan(tp_curr_stop[col]):"),
    (NB, 2677, "# Stop signal comes first"),
    (NB, 2694, "else:"),
    (NB, 2695, "# User-defined signal comes first"),
    (BASE, 3000, "can_use_static = ("),
    (NB, 117, "cash_limit = min(cash_limit, percent * cash_limit)"),
    (NB, 162, "max_req_cash = add_nb(cash_limit, -fixed_fees) / (1 + fees)"),
    (NB, 166, "max_acq_size = max_req_cash / adj_price"),
    (NB, 170, "final_size = max_acq_size // size_granularity * size_granularity"),
    (NB, 1770, "if size_type != SizeType.Amount and size_type != SizeType.Value and size_type != SizeType.Percent:"),
])
def test_the_evidence_cites_the_installed_vectorbt(path, line, text):
    assert vectorbt.__version__ == "1.2.0"
    assert path.read_text(encoding="utf-8").splitlines()[line - 1].strip() == text


def test_stock_runs_are_deterministic():
    scenario = load_scenario(SCENARIOS_DIR / "rnd_sl_next_open")
    a, b = ENGINE.run(scenario, "stock"), ENGINE.run(scenario, "stock")
    assert (a.fills, a.rejections, list(a.equity)) == (b.fills, b.rejections, list(b.equity))
    assert np.isfinite(a.final_value)


def test_the_readme_witness_columns_are_the_engines_declarations():
    from harness.contract import KNOBS
    from harness.docs import README, section

    rows = section(README.read_text(encoding="utf-8"), "witness").splitlines()
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    table = {cells[0].strip("`"): cells for cells in
             ([c.strip() for c in row.strip("|").split("|")] for row in rows[2:])}
    for mode in ENGINE.modes:
        column = header.index(f"{ENGINE.name}/{mode}")
        for knob in KNOBS:
            entry = ENGINE.witness[mode].get(knob.field)
            assert table[knob.key][column] == (entry[0] if entry else "-"), (mode, knob.key)
