"""The adapter refuses what it cannot realise, loudly, instead of guessing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import adapters.vectorbt as vbt_adapter

from harness.contract import Contract
from harness.scenario import Market, Scenario
from tests.builders import bars, make_scenario

adapter = vbt_adapter.Vectorbt()

pytestmark = pytest.mark.vectorbt

THREE_BARS = bars(
    (10.0, 11.0, 9.0, 10.0),
    (10.2, 12.0, 10.0, 11.0),
    (11.3, 13.0, 11.0, 12.0),
)


def scenario(**kwargs):
    return make_scenario(THREE_BARS, entries=[1, 0, 0], exits=[0, 1, 0], **kwargs)


def with_contract(s: Scenario, **changes) -> Scenario:
    contract = dataclasses.replace(s.spec.contract, **changes)
    return dataclasses.replace(s, spec=dataclasses.replace(s.spec, contract=contract))


def test_unknown_fill_mode_raises():
    # The contract admits no other fill mode (a Contract refuses it), so the timing step is asked directly.
    m = scenario().market
    with pytest.raises(NotImplementedError, match="fill mode"):
        vbt_adapter._signal_timing("at_noon", m.open, m.close, m.entries, m.exits)


def test_unknown_sizing_mode_raises():
    with pytest.raises(NotImplementedError, match="sizing mode"):
        adapter.run(with_contract(scenario(), sizing_mode="percent"))


def test_a_contract_knob_the_adapter_was_not_taught_raises(monkeypatch):
    # stands in for a knob added to Contract later: the adapter must refuse it
    monkeypatch.setattr(adapter, "_HANDLED_KNOBS", adapter._HANDLED_KNOBS - {"slippage"})
    with pytest.raises(NotImplementedError, match="slippage"):
        adapter.run(scenario())


def test_every_contract_field_is_handled_or_explicitly_refused():
    assert {f.name for f in dataclasses.fields(Contract)} == adapter._HANDLED_KNOBS | adapter._REFUSED_KNOBS
    assert not adapter._HANDLED_KNOBS & adapter._REFUSED_KNOBS


def test_rotation_knobs_are_refused_on_the_signal_path():
    with pytest.raises(NotImplementedError, match="units"):
        adapter.run(with_contract(scenario(), units="whole"))


def test_target_weights_without_weights_is_refused():
    # dispatched to the rotation path, which needs Market.weights
    with pytest.raises((ValueError, NotImplementedError), match="weights"):
        adapter.run(with_contract(scenario(), sizing_mode="target_weights", size=None, units="fractional"))


@pytest.mark.parametrize("changes, match", [
    (dict(stop_loss=0.0), "stop_loss"), (dict(stop_loss=1.0), "stop_loss"), (dict(stop_loss=float("nan")), "stop_loss"),
    (dict(trailing_stop=1.5), "trailing_stop"), (dict(take_profit=-0.1), "take_profit"),
    (dict(take_profit=float("inf")), "take_profit"), (dict(max_bars=0), "max_bars"), (dict(max_bars=2.5), "max_bars"),
    (dict(max_bars=True), "max_bars"),
])
def test_bad_exit_knob_values_raise(changes, match):
    with pytest.raises(ValueError, match=match):
        adapter.run(with_contract(scenario(), **changes))


@pytest.mark.parametrize("changes, match", [(dict(stop_loss=0.05, stop_reference="open"), "stop_reference"),
                                            (dict(trailing_stop=0.05, trail_source="low"), "trail_source")])
def test_unknown_exit_choices_raise(changes, match):
    with pytest.raises(NotImplementedError, match=match):
        adapter.run(with_contract(scenario(), **changes))


def test_inconsistent_bars_raise_when_exit_rules_are_on():
    # high below the open: vectorbt's intrabar check (low <= level <= high) and the contract's (low <= level)
    # would part ways; plain signals do not look at high/low and still run
    rows = bars((10.0, 11.0, 9.0, 10.0), (10.2, 10.1, 9.0, 10.0), (10.0, 11.0, 9.0, 10.0))
    s = make_scenario(rows, entries=[1, 0, 0], exits=[0, 0, 0])
    adapter.run(s)
    with pytest.raises(NotImplementedError, match="high/low outside"):
        adapter.run(with_contract(s, stop_loss=0.05))


def test_more_than_one_asset_raises():
    s = scenario()
    m = s.market
    two = lambda a: np.repeat(a, 2, axis=1)  # noqa: E731
    market = Market(timestamps=m.timestamps, assets=("A00", "A01"), open=two(m.open), high=two(m.high),
                    low=two(m.low), close=two(m.close), volume=two(m.volume),
                    entries=two(m.entries), exits=two(m.exits))
    with pytest.raises(NotImplementedError, match="2 assets"):
        adapter.run(dataclasses.replace(s, market=market))


def test_entry_and_exit_on_the_same_bar_raises():
    s = make_scenario(THREE_BARS, entries=[1, 0, 0], exits=[1, 0, 0])
    with pytest.raises(ValueError, match="same bar"):
        adapter.run(s)


def test_nan_prices_raise():
    s = scenario()
    close = np.array(s.market.close)
    close[1, 0] = np.nan
    with pytest.raises(NotImplementedError, match="non-finite close"):
        adapter.run(dataclasses.replace(s, market=dataclasses.replace(s.market, close=close)))


def test_vectorbt_cash_tolerance_is_reported_not_hidden():
    # 10 @ 10 costs 100 > cash 100 - 1e-8: the contract rejects the entry, but vectorbt
    # accepts it (cost and cash agree to 1e-10 relative, inside its 1e-9 tolerance).
    s = make_scenario(THREE_BARS, entries=[1, 0, 0], exits=[0, 0, 0], cash=100 - 1e-8, size=10)
    with pytest.raises(adapter.ContractDivergence, match="tolerance"):
        adapter.run(s)


def test_market_arrays_are_not_touched():
    s = make_scenario(THREE_BARS, entries=[0, 0, 1], exits=[0, 0, 0])
    before = s.market.entries.copy()
    adapter.run(s)
    assert np.array_equal(s.market.entries, before)
    assert not s.market.entries.flags.writeable
