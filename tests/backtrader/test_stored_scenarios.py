"""Every stored scenario runs through Backtrader and yields a well-formed result.

Parity with the reference engine is the gate's job; this checks the adapter's own
invariants on real inputs: valid schema, one equity value per bar, final value =
last equity value, fills alternate entry/exit per asset (a long's buy then sell, a
short's sell then buy), and signal fills
follow the fill mode (close: the signal bar; next_open: the bar after it), and
exit-rule fills (stop, take-profit, trailing, time) come only from rules the
scenario sets, after the entry fill bar and no later than ``max_bars`` after it.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters import backtrader as bt_adapter
from harness.contract import BEHAVIOUR_DEFAULTS
from harness.engines import Unsupported
from harness.results import validate_result
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.stored import engine_test_scenarios

BACKTRADER = bt_adapter.Backtrader()

pytestmark = pytest.mark.backtrader


def behaviour_knobs_set(scenario) -> list[str]:
    c = scenario.spec.contract
    return [k for k, v in BEHAVIOUR_DEFAULTS.items() if getattr(c, k) != v]


@pytest.mark.parametrize("name", engine_test_scenarios())
def test_stored_scenario(name):
    sc = load_scenario(SCENARIOS_DIR / name)
    knobs = behaviour_knobs_set(sc)
    if knobs:
        # A knob_* scenario sets a behaviour knob away from the contract: contract mode refuses it, naming it.
        with pytest.raises(Unsupported, match=knobs[0]):
            BACKTRADER.run(sc)
        return
    if sc.spec.contract.sizing_mode != "fixed" and sc.spec.contract.fill == "next_close":
        # Close orders: fixed-size signals only
        with pytest.raises(Unsupported, match=r"\[execution\] fill"):
            BACKTRADER.run(sc)
        return
    if sc.spec.contract.sizing_mode == "target_weights":
        r = BACKTRADER.run(sc)
        validate_result(r)
        assert len(r.equity) == sc.market.n_bars and r.final_value == r.equity[-1]
        assert r.fills and {f.reason for f in r.fills} == {"rebalance"}
        assert {x.reason for x in r.rejections} <= {"rebalance"}
        return
    out = bt_adapter.simulate(sc)
    r = out.result
    validate_result(r)
    # every refused order is an entry the broker could not pay for (status Margin), and is a canonical rejection
    assert all(x.status == "Margin" for x in out.rejections)
    assert all(x.side == "buy" for x in out.rejections) or sc.spec.contract.sides != "long"
    assert len(out.rejections) == len(r.rejections)
    assert len(r.equity) == sc.market.n_bars
    assert r.final_value == r.equity[-1]
    assert r.fills, "every stored scenario trades"
    market = sc.market
    contract = sc.spec.contract
    lag = 0 if contract.fill == "close" else 1
    allowed_reasons = {reason for knob, reason in (("stop_loss", "stop_loss"), ("take_profit", "take_profit"),
                                                  ("trailing_stop", "trailing_stop"), ("max_bars", "time_exit"))
                       if getattr(contract, knob) is not None}
    no_shorts = np.zeros_like(market.entries)
    short_entries = no_shorts if market.short_entries is None else market.short_entries
    short_exits = no_shorts if market.short_exits is None else market.short_exits
    for j, asset in enumerate(market.assets):
        fills = [f for f in r.fills if f.asset == asset]
        entry_bar = entry_side = None
        for k, f in enumerate(fills):
            entering = k % 2 == 0  # one position at a time: entry, exit, entry, ...
            if entering:
                entry_bar, entry_side = f.bar, f.side
            else:
                assert f.side != entry_side, f  # the exit closes the position the entry opened
            if contract.sizing_mode == "fixed":
                assert f.size == contract.size
            else:  # sized at the decision close; an exit closes the whole position
                assert f.size > 0.0 and (entering or f.size == fills[k - 1].size), f
            if not entering and contract.max_bars is not None:
                assert f.bar <= entry_bar + contract.max_bars, f  # no position outlives max_bars
            if f.reason == "signal":
                signal_bar = f.bar - lag
                long_position = entry_side == "buy"
                signals = ((market.entries if long_position else short_entries) if entering
                           else (market.exits if long_position else short_exits))
                assert signals[signal_bar, j], f
                assert signal_bar < market.n_bars - 1
                continue
            # An exit rule fired: only after the entry fill bar, only for a rule the scenario sets.
            assert not entering and f.reason in allowed_reasons, f
            assert f.bar > entry_bar, f
            if f.reason == "time_exit":
                assert f.bar == entry_bar + contract.max_bars, f
    assert np.all(np.isfinite(r.equity))
