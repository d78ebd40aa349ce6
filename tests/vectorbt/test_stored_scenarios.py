"""The adapter on every stored scenario: it runs, and the last-bar rule holds on real data."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.vectorbt import run
from harness.results import validate_result
from harness.scenario import load_scenario, scenario_names, SCENARIOS_DIR

pytestmark = pytest.mark.vectorbt


@pytest.mark.parametrize("name", scenario_names())
def test_stored_scenario_runs_and_respects_the_contract(name):
    s = load_scenario(SCENARIOS_DIR / name)
    r = run(s)
    validate_result(r)
    last = s.market.n_bars - 1
    if s.spec.contract.fill == "close":
        assert all(f.bar != last for f in r.fills), "a close-mode fill on the last bar"
    else:
        assert all(f.bar != 0 for f in r.fills), "a next_open fill on the first bar"
    # fills alternate buy, sell, buy, ... and each buy is exactly `size` units
    sides = [f.side for f in r.fills]
    assert sides == ["buy", "sell"] * (len(sides) // 2) + ["buy"] * (len(sides) % 2)
    assert all(f.size == s.spec.contract.size for f in r.fills)
    assert r.final_value == r.equity[-1]
    assert np.all(np.isfinite(r.equity))
