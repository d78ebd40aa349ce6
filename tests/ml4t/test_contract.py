"""ml4t-backtest in contract mode (its own venv, Python 3.12): every stored scenario it supports against
its golden result, the behaviour knobs it refuses, and the guards where ml4t goes where its public API
cannot stop it."""

from __future__ import annotations

import pytest

from adapters.ml4t import Ml4t
from harness.contract import BEHAVIOUR_DEFAULTS
from harness.engines import Unsupported
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.builders import bars, make_scenario
from tests.stored import engine_test_scenarios, stored_scenario_checks

pytestmark = pytest.mark.ml4t

ENGINE = Ml4t()
CHECKS = stored_scenario_checks(ENGINE, "contract")
FLAT = (100.0, 101.0, 99.0, 100.0)


def _refusal(name):
    """What the check() hook refuses of a scenario the capability table accepts (None: nothing)."""
    scenario = load_scenario(SCENARIOS_DIR / name)
    try:
        ENGINE.check(scenario, ENGINE.judged_contract(scenario.spec.contract, "contract"), "contract")
    except Unsupported as exc:
        return exc
    return None


REFUSED = {n: _refusal(n) for n in CHECKS}
RUNS = sorted(n for n, exc in REFUSED.items() if exc is None)


def test_the_hook_refuses_next_close_with_exit_rules_or_rotation_and_the_cost_sums_ml4t_cannot_make():
    for name, exc in REFUSED.items():
        if exc is None:
            continue
        c = load_scenario(SCENARIOS_DIR / name).spec.contract
        if exc.knob == "[costs] per_share":  # ml4t's PerOrderCommission applies the minimum to the whole fee
            assert c.per_share > 0 and (c.fee > 0 or c.fixed_fee > 0)
        elif exc.knob == "[costs] slippage_abs":  # one slippage model: PERCENTAGE or FIXED
            assert c.slippage_abs > 0 and c.slippage > 0
        else:
            assert exc.knob == "[execution] fill" and c.fill == "next_close"
            assert c.has_exit_rules or c.sizing_mode == "target_weights"
    assert {exc.knob for exc in REFUSED.values() if exc is not None} == {
        "[execution] fill", "[costs] per_share", "[costs] slippage_abs"}


def test_contract_mode_runs_every_kind_of_stored_scenario():
    kinds = {(load_scenario(SCENARIOS_DIR / n).spec.contract.sizing_mode, load_scenario(SCENARIOS_DIR / n).spec.contract.fill)
             for n in RUNS}
    assert kinds == {(m, f) for m in ("fixed", "target_weights") for f in ("close", "next_open")} | {("fixed", "next_close")}


# Refused while running: ml4t went where its public API cannot stop it (adapters/ml4t.py, _contract_guards),
# so the run is `unsupported` with this knob, never compared (and never a pass). Pinned, so that a change in
# either direction shows.
RUNTIME_REFUSALS = {"multi_signals_next_open": "[execution] reentry_block"}
# The cost knobs ml4t's settings express exactly (adapters/ml4t.py _costs): pinned to run and match their goldens.
COST_RUNS = ("knob_fixed_fee", "rnd_costs_slip_fixed_next_open")


def test_the_cost_knob_scenarios_ml4t_expresses_run():
    assert set(COST_RUNS) <= set(RUNS) and not set(COST_RUNS) & set(RUNTIME_REFUSALS)


@pytest.mark.parametrize("name", RUNS)
def test_contract_mode_matches_the_golden(name):
    if name in RUNTIME_REFUSALS:
        with pytest.raises(Unsupported) as refused:
            CHECKS[name]()
        assert refused.value.knob == RUNTIME_REFUSALS[name]
        return
    assert CHECKS[name]() == []


# The knob_* scenarios that set a behaviour knob (the cost and sizing ones set contract knobs instead).
@pytest.mark.parametrize("name", [n for n in engine_test_scenarios() if n.startswith("knob_") and any(
    getattr(load_scenario(SCENARIOS_DIR / n).spec.contract, k) != v for k, v in BEHAVIOUR_DEFAULTS.items())])
def test_a_behaviour_knob_away_from_the_contract_is_refused_naming_it(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    c = scenario.spec.contract
    knobs = [k for k, v in BEHAVIOUR_DEFAULTS.items() if getattr(c, k) != v]
    assert knobs
    with pytest.raises(Unsupported) as info:
        ENGINE.run(scenario, "contract")
    if c.fill not in ENGINE.capabilities["contract"]["fill"]:
        assert info.value.knob == "[execution] fill"  # named first: the door checks the knobs in contract order
    elif c.sizing_mode not in ENGINE.capabilities["contract"]["sizing_mode"]:
        assert info.value.knob == "[sizing] mode"  # named first too (knob_percent_base_*: percent_of_equity)
    else:
        assert info.value.knob.endswith(f" {knobs[0]}")


def test_a_buy_only_the_cash_tolerance_lets_through_is_unsupported():
    # 1000 of cost against 999.995 of cash: ml4t's cash check accepts 0.01 over the cash, the contract does not.
    scenario = make_scenario(bars(FLAT, FLAT, FLAT), entries=[0, 1, 0], exits=[0, 0, 0], cash=999.995)
    with pytest.raises(Unsupported) as info:
        ENGINE.run(scenario, "contract")
    assert info.value.knob == "[costs] cash_slack"
    # A cent more and it fits without the tolerance: then contract mode fills it.
    fills = ENGINE.run(make_scenario(bars(FLAT, FLAT, FLAT), entries=[0, 1, 0], exits=[0, 0, 0], cash=1000.0),
                       "contract").fills
    assert [(f.bar, f.side, f.price) for f in fills] == [(1, "buy", 100.0)]


def test_next_close_fills_at_the_next_bars_close_without_exit_rules_only():
    rising = bars(FLAT, FLAT, (100.0, 102.0, 99.0, 101.0), (101.0, 103.0, 100.0, 102.0), FLAT)
    scenario = make_scenario(rising, entries=[0, 1, 0, 0, 0], exits=[0, 0, 1, 0, 0], fill="next_close",
                             cash=10_000.0, fee=0.001)
    fills = ENGINE.run(scenario, "contract").fills
    assert [(f.bar, f.side, f.price) for f in fills] == [(2, "buy", 101.0), (3, "sell", 102.0)]
    assert [f.fee for f in fills] == pytest.approx([10 * 101.0 * 0.001, 10 * 102.0 * 0.001], rel=1e-9)
    with pytest.raises(Unsupported) as info:
        ENGINE.run(make_scenario(rising, entries=[0, 1, 0, 0, 0], exits=[0] * 5, fill="next_close", stop_loss=0.05),
                   "contract")
    assert info.value.knob == "[execution] fill"


def test_contract_runs_are_deterministic():
    scenario = load_scenario(SCENARIOS_DIR / "rnd_combo_next_open_fillref")
    a, b = ENGINE.run(scenario, "contract"), ENGINE.run(scenario, "contract")
    assert (a.fills, a.rejections, a.equity) == (b.fills, b.rejections, b.equity)
