"""Zipline in contract mode (its own venv): every stored scenario it supports against its golden result,
what it refuses and why, and the guard where Zipline goes where the contract does not (no cash check)."""

from __future__ import annotations

import pytest

from adapters.zipline import Zipline
from harness.contract import BEHAVIOUR_DEFAULTS
from harness.engines import Unsupported
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.builders import bars, make_rotation, make_scenario
from tests.stored import engine_test_scenarios, stored_scenario_checks

pytestmark = pytest.mark.zipline

ENGINE = Zipline()
CHECKS = stored_scenario_checks(ENGINE, "contract")
FLAT = (100.0, 101.0, 99.0, 100.0)


def test_contract_mode_runs_signals_time_exits_and_rotations():
    contracts = [load_scenario(SCENARIOS_DIR / n).spec.contract for n in CHECKS]
    assert {c.fill for c in contracts} == {"next_close"}
    assert {c.sizing_mode for c in contracts} == {"fixed", "target_weights", "percent_of_equity", "target_value"}
    assert any(c.per_share > 0 and c.min_fee > 0 and c.fixed_fee > 0 for c in contracts)
    assert any(c.max_bars is not None for c in contracts) and any(c.fee > 0 and c.slippage > 0 for c in contracts)
    assert any(c.sides == "both" for c in contracts)  # short sales and covers too


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_contract_mode_matches_the_golden(name):
    assert CHECKS[name]() == []


@pytest.mark.parametrize("name, knob", [
    ("plain_close", "[execution] fill"),  # Zipline fills a market order at the next session's close only
    ("plain_next_open", "[execution] fill"),
    ("exit_sl_next_close", "[exits] stop_loss"),  # its stop orders trigger on the close: not the contract's stop
    ("exit_tp_next_close", "[exits] take_profit"),
])
def test_what_zipline_cannot_express_in_contract_mode_is_unsupported(name, knob):
    with pytest.raises(Unsupported) as info:
        ENGINE.run(load_scenario(SCENARIOS_DIR / name), "contract")
    assert info.value.knob == knob


# The knob_* scenarios that set a behaviour knob (the cost and sizing ones set contract knobs instead).
@pytest.mark.parametrize("name", [n for n in engine_test_scenarios() if n.startswith("knob_") and any(
    getattr(load_scenario(SCENARIOS_DIR / n).spec.contract, k) != v for k, v in BEHAVIOUR_DEFAULTS.items())])
def test_a_behaviour_knob_away_from_the_contract_is_refused(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    c = scenario.spec.contract
    assert any(getattr(c, k) != v for k, v in BEHAVIOUR_DEFAULTS.items())
    with pytest.raises(Unsupported):
        ENGINE.run(scenario, "contract")


def test_a_buy_the_contract_would_refuse_is_unsupported_not_filled():
    # 10 units at close[2] = 101 cost 1010 from 1000 of cash: Zipline fills it (cash -10), the contract refuses it.
    rising = bars(FLAT, FLAT, (100.0, 102.0, 99.0, 101.0), (101.0, 102.0, 100.0, 101.0))
    scenario = make_scenario(rising, entries=[0, 1, 0, 0], exits=[0, 0, 0, 0], fill="next_close", cash=1000.0)
    with pytest.raises(Unsupported) as info:
        ENGINE.run(scenario, "contract")
    assert info.value.knob == "[portfolio] cash_check"
    # with the cash to pay for it, contract mode fills it at the next close
    fills = ENGINE.run(make_scenario(rising, entries=[0, 1, 0, 0], exits=[0, 0, 0, 0], fill="next_close",
                                     cash=1011.0), "contract").fills
    assert [(f.bar, f.side, f.size, f.price) for f in fills] == [(2, "buy", 10.0, 101.0)]


def test_fractional_sizes_and_units_are_unsupported_in_contract_mode():
    scenario = make_scenario(bars(FLAT, FLAT, FLAT), entries=[1, 0, 0], exits=[0, 0, 0], fill="next_close", size=2.5)
    with pytest.raises(Unsupported) as info:
        ENGINE.run(scenario, "contract")
    assert info.value.knob == "[sizing] size"
    rotation = make_rotation([[100.0]] * 3, [[100.0]] * 3, {0: [0.5]}, fill="next_close", units="fractional")
    with pytest.raises(Unsupported) as info:
        ENGINE.run(rotation, "contract")
    assert info.value.knob == "[sizing] units"


def test_contract_runs_are_deterministic():
    for name in ("multi_signals_next_close", "rot_topk_next_close_whole"):
        scenario = load_scenario(SCENARIOS_DIR / name)
        a, b = ENGINE.run(scenario, "contract"), ENGINE.run(scenario, "contract")
        assert (a.fills, a.rejections, a.equity) == (b.fills, b.rejections, b.equity)


def test_the_commission_models_add_up_in_the_contracts_order():
    from types import SimpleNamespace

    from adapters.zipline import commission_model

    contract = load_scenario(SCENARIOS_DIR / "rnd_costs_commission_next_close").spec.contract
    model = commission_model(contract)
    assert [type(m).__name__ for m in model.models] == ["PerDollar", "PerShare", "PerTrade"]

    def fee(amount: int, price: float) -> float:
        order = SimpleNamespace(commission=0.0, amount=amount, filled=0)
        return model.calculate(order, SimpleNamespace(amount=amount, price=price))

    # 0.1% of 5000, the per-unit 0.50 raised to its minimum 1.00, the flat 0.50; then 150 units over the minimum.
    assert fee(50, 100.0) == pytest.approx(5.0 + 1.0 + 0.5, rel=1e-12)
    assert fee(-150, 100.0) == pytest.approx(15.0 + 1.5 + 0.5, rel=1e-12)
    # a percentage fee alone stays Zipline's PerDollar
    assert type(commission_model(contract.replace(per_share=0.0, min_fee=0.0, fixed_fee=0.0))).__name__ == "PerDollar"
