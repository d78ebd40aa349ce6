"""The adapter on every stored scenario: it runs, the last-bar rule holds, and hand-built
scenarios give the fills written down in their scenario.toml ([[expected]])."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.vectorbt import Vectorbt
from harness import golden
from harness.contract import BEHAVIOUR_DEFAULTS, knob_key
from harness.engines import Unsupported
from harness.results import validate_result
from harness.scenario import load_scenario, SCENARIOS_DIR
from tests.stored import door_refusal, engine_test_scenarios

ENGINE = Vectorbt()
run = ENGINE.run


pytestmark = pytest.mark.vectorbt


def behaviour_knobs_set(scenario) -> list[str]:
    c = scenario.spec.contract
    return [k for k, v in BEHAVIOUR_DEFAULTS.items() if getattr(c, k) != v]


@pytest.mark.parametrize("name", engine_test_scenarios())
def test_stored_scenario_runs_and_respects_the_contract(name):
    s = load_scenario(SCENARIOS_DIR / name)
    knobs = behaviour_knobs_set(s)
    refused = door_refusal(ENGINE, name, "contract")
    if knobs:
        # A knob_* scenario sets a behaviour knob away from the contract: contract mode refuses it, naming it
        # (or, first, a sizing mode vectorbt does not realise).
        with pytest.raises(Unsupported) as info:
            run(s)
        assert info.value.knob in {knob_key(k) for k in knobs} | ({refused.knob} if refused else set())
        return
    if refused is not None:
        # A cost or sizing knob vectorbt does not realise (tests/vectorbt/test_guards.py lists them): named.
        assert refused.knob.split()[-1] in {"per_share", "min_fee", "slippage_abs", "mode"}, refused
        with pytest.raises(Unsupported) as info:
            run(s)
        assert info.value.knob == refused.knob
        return
    c = s.spec.contract
    if c.fill == "next_close" and (c.sizing_mode != "fixed" or c.has_exit_rules or s.market.n_assets != 1):
        with pytest.raises(Unsupported, match=r"\[execution\] fill"):  # shifted signals: plain one-asset only
            run(s)
        return
    if s.spec.contract.sizing_mode == "target_weights":
        # rotation: adapters/_vectorbt_rotation.py (its own tests in test_rotation.py)
        r = run(s)
        validate_result(r)
        assert r.fills and {f.reason for f in r.fills} == {"rebalance"}
        return
    r = run(s)
    validate_result(r)
    last = s.market.n_bars - 1
    if s.spec.contract.fill == "close":
        # the only close-mode fill allowed on the last bar is an intrabar stop
        assert all(f.bar != last or f.reason in ("stop_loss", "take_profit", "trailing_stop") for f in r.fills), \
            "a close-mode signal or time-exit fill on the last bar"
    else:
        assert all(f.bar != 0 for f in r.fills), "a next_open fill on the first bar"
    # each asset's fills alternate entry, exit, entry, ...: an exit is on the other side of its entry, and an
    # entry is a buy (long) or a sell (short) as [positions] sides allows; fixed sizes: every fill is `size` units
    entry_sides = {"long": {"buy"}, "short": {"sell"}, "both": {"buy", "sell"}}[s.spec.contract.sides]
    for asset in s.market.assets:
        sides = [f.side for f in sorted((f for f in r.fills if f.asset == asset), key=lambda f: f.bar)]
        assert set(sides[0::2]) <= entry_sides
        assert all(exit_side != entry_side for entry_side, exit_side in zip(sides[0::2], sides[1::2]))
    if s.market.n_assets != 1 or s.spec.contract.sizing_mode != "fixed":
        # one cash pool (tests/vectorbt/test_multi_asset.py); value sizes (test_costs_sizing.py): the golden, exactly
        check = golden.check(name, r)
        assert check.status == "pass", check
    else:
        assert all(f.size == s.spec.contract.size for f in r.fills)
    assert r.final_value == r.equity[-1]
    assert np.all(np.isfinite(r.equity))
    if not s.spec.contract.has_exit_rules:
        assert {f.reason for f in r.fills} <= {"signal"}


@pytest.mark.parametrize("name", [n for n in engine_test_scenarios() if load_scenario(SCENARIOS_DIR / n).spec.expected
                                  and not behaviour_knobs_set(load_scenario(SCENARIOS_DIR / n))
                                  and door_refusal(ENGINE, n, "contract") is None
                                  # next_close with exit rules is unsupported (test above)
                                  and load_scenario(SCENARIOS_DIR / n).spec.contract.fill != "next_close"])
def test_hand_built_scenario_gives_its_written_down_fills(name):
    s = load_scenario(SCENARIOS_DIR / name)
    r = run(s)
    got = [(f.asset, f.bar, f.side, f.reason) for f in r.fills]
    want = [(e["asset"], e["bar"], e["side"], e["reason"]) for e in s.spec.expected]
    assert got == want
    for f, e in zip(r.fills, s.spec.expected):
        assert f.price == pytest.approx(e["price"], rel=1e-12, abs=0), (f.bar, f.side)
