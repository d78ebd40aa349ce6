"""Every stored scenario runs through Backtrader and yields a well-formed result.

Parity with the reference engine is the gate's job; this checks the adapter's own
invariants on real inputs: valid schema, one equity value per bar, final value =
last equity value, fills alternate buy/sell per asset, and the fill bar follows
the fill mode (close: the signal bar; next_open: the bar after it).
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters import backtrader as bt_adapter
from harness.results import validate_result
from harness.scenario import SCENARIOS_DIR, load_scenario, scenario_names

pytestmark = pytest.mark.backtrader


@pytest.mark.parametrize("name", scenario_names())
def test_stored_scenario(name):
    sc = load_scenario(SCENARIOS_DIR / name)
    out = bt_adapter.simulate(sc)
    r = out.result
    validate_result(r)
    assert out.rejections == ()
    assert len(r.equity) == sc.market.n_bars
    assert r.final_value == r.equity[-1]
    assert r.fills, "every stored scenario trades"
    market = sc.market
    lag = 0 if sc.spec.contract.fill == "close" else 1
    for j, asset in enumerate(market.assets):
        fills = [f for f in r.fills if f.asset == asset]
        assert [f.side for f in fills] == ["buy", "sell"] * (len(fills) // 2) + ["buy"] * (len(fills) % 2)
        for f in fills:
            signal_bar = f.bar - lag
            signals = market.entries if f.side == "buy" else market.exits
            assert signals[signal_bar, j], f
            assert signal_bar < market.n_bars - 1
            assert f.size == sc.spec.contract.size
    assert np.all(np.isfinite(r.equity))
