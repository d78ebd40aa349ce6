"""The adapter refuses what it cannot realise, loudly, instead of guessing.

Two layers refuse: the engine door (``Engine.run`` in harness/engines.py) raises
:class:`Unsupported`, naming the knob, for a contract value outside
``Vectorbt.capabilities`` and for what ``Vectorbt.check`` rules out; behind it, the
adapter's own guards (``_check_supported`` in adapters/vectorbt.py) refuse every
value and market shape its code was not taught. A :class:`Contract` validates its
values on construction, so the adapter's guards are reached here with contracts
built past that validation (:func:`unchecked`), as a knob added later, or a
contract built by other code, would reach them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import adapters._vectorbt_rotation as vbt_rotation
import adapters.vectorbt as vbt_adapter

from harness.contract import BEHAVIOUR_KNOBS, KNOB_BY_FIELD, Contract
from harness.engines import Unsupported
from harness.scenario import Market, Scenario
from tests.builders import bars, make_rotation, make_scenario

adapter = vbt_adapter.Vectorbt()
CAPABILITIES = vbt_adapter.Vectorbt.capabilities["contract"]

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


def unchecked(s: Scenario, **changes) -> Scenario:
    """``s`` with its contract's fields changed without Contract's validation (frozen fields set directly)."""
    contract = object.__new__(Contract)
    for f in dataclasses.fields(Contract):
        object.__setattr__(contract, f.name, changes.get(f.name, getattr(s.spec.contract, f.name)))
    return dataclasses.replace(s, spec=dataclasses.replace(s.spec, contract=contract))


def test_unknown_fill_mode_raises():
    # The contract admits no other fill mode (a Contract refuses it), so the timing step is asked directly.
    m = scenario().market
    with pytest.raises(NotImplementedError, match="fill mode"):
        vbt_adapter._signal_timing("at_noon", m.open, m.close, m.entries, m.exits)


def test_unknown_sizing_mode_raises():
    # a Contract refuses it on construction; one built past that is refused at the door, naming the knob
    with pytest.raises(ValueError, match=r"\[sizing\] mode"):
        with_contract(scenario(), sizing_mode="percent")
    with pytest.raises(Unsupported, match="percent") as info:
        adapter.run(unchecked(scenario(), sizing_mode="percent"))
    assert info.value.knob == "[sizing] mode"
    # and the signal path's own guard refuses it too
    with pytest.raises(NotImplementedError, match="sizing mode"):
        vbt_adapter._check_supported(unchecked(scenario(), sizing_mode="percent"))


def test_a_contract_knob_the_adapter_was_not_taught_raises():
    # stands in for a knob added to Contract later: the door refuses what the capability table does not list
    s = scenario()

    class FutureContract:
        """A contract with a knob this adapter has never heard of."""

        def __getattr__(self, name):
            return getattr(s.spec.contract, name)

        def as_dict(self):
            return {**s.spec.contract.as_dict(), "break_even_stop": 0.05}

    future = dataclasses.replace(s, spec=dataclasses.replace(s.spec, contract=FutureContract()))
    with pytest.raises(Unsupported, match="cannot express this knob") as info:
        adapter.run(future)
    assert info.value.knob == "break_even_stop"


def test_a_knob_left_out_of_the_capability_table_is_unsupported(monkeypatch):
    caps = {mode: {k: v for k, v in table.items() if k != "slippage"}
            for mode, table in vbt_adapter.Vectorbt.capabilities.items()}
    monkeypatch.setattr(vbt_adapter.Vectorbt, "capabilities", caps)
    with pytest.raises(Unsupported) as info:
        adapter.run(scenario())
    assert info.value.knob == "[costs] slippage"


def test_a_knob_the_signal_path_was_not_taught_raises(monkeypatch):
    # behind the door: the signal path's own list of the knobs its code realises
    monkeypatch.setattr(vbt_adapter, "_HANDLED_KNOBS", vbt_adapter._HANDLED_KNOBS - {"slippage"})
    with pytest.raises(NotImplementedError, match="slippage"):
        adapter.run(scenario())


def test_a_knob_the_rotation_path_was_not_taught_raises(monkeypatch):
    monkeypatch.setattr(vbt_rotation, "_HANDLED_KNOBS", vbt_rotation._HANDLED_KNOBS - {"units"})
    px = [[100.0]] * 2
    with pytest.raises(NotImplementedError, match="units"):
        adapter.run(make_rotation(px, px, {0: [0.5]}))


def test_the_capability_table_is_what_the_two_paths_realise():
    # every knob the door lets through is one the signal or the rotation path realises, and no more
    assert set(CAPABILITIES) == vbt_adapter._HANDLED_KNOBS | vbt_rotation._HANDLED_KNOBS
    # every Contract field is either in the table or a behaviour knob (refused below away from its default)
    fields = {f.name for f in dataclasses.fields(Contract)}
    assert set(CAPABILITIES) <= fields
    assert fields - set(CAPABILITIES) == {knob.field for knob in BEHAVIOUR_KNOBS} | NOT_REALISED


# Contract knobs (not behaviour knobs) the adapter does not realise: a scenario setting one is unsupported
# (tests/vectorbt/test_costs_sizing.py runs the knob scenarios that set them).
# vectorbt 1.2.0 has no per-share commission nor minimum (buy_nb/sell_nb: fees * value + fixed_fees,
# portfolio/nb.py:149, 311), only a percentage slippage (nb.py:90, 233), and no size type that is a fraction
# of the equity at the decision close (from_signals: amount, value, percent of the cash at the fill, nb.py:1770).
NOT_REALISED = {"per_share", "min_fee", "slippage_abs", "fraction"}


@pytest.mark.parametrize("knob", BEHAVIOUR_KNOBS, ids=lambda k: k.field)
def test_every_behaviour_knob_away_from_the_contract_is_unsupported_naming_it(knob):
    other = next(v for v in knob.choices if v != knob.default)
    with pytest.raises(Unsupported) as info:
        adapter.run(with_contract(scenario(), **{knob.field: other}))
    assert info.value.knob == knob.key


def test_rotation_knobs_are_refused_on_the_signal_path():
    # a Contract refuses units with fixed sizing; one built past that is refused by the signal path
    with pytest.raises(ValueError, match="units"):
        with_contract(scenario(), units="whole")
    with pytest.raises(NotImplementedError, match="units"):
        adapter.run(unchecked(scenario(), units="whole"))


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
    # a Contract refuses them on construction; the door accepts any value of these knobs (ANY), so the
    # adapter's own guard must refuse a contract built past that validation
    with pytest.raises(ValueError, match=match):
        with_contract(scenario(), **changes)
    with pytest.raises(ValueError, match=f"vectorbt adapter: {match}"):
        adapter.run(unchecked(scenario(), **changes))


@pytest.mark.parametrize("changes, match", [(dict(stop_loss=0.05, stop_reference="open"), "stop_reference"),
                                            (dict(trailing_stop=0.05, trail_source="low"), "trail_source")])
def test_unknown_exit_choices_raise(changes, match):
    with pytest.raises(ValueError, match=match):
        with_contract(scenario(), **changes)
    # the door refuses a value outside the capability table, naming the knob
    with pytest.raises(Unsupported) as info:
        adapter.run(unchecked(scenario(), **changes))
    assert info.value.knob == KNOB_BY_FIELD[match].key
    # and the signal path's own guard refuses it too
    with pytest.raises(NotImplementedError, match=match):
        vbt_adapter._check_supported(unchecked(scenario(), **changes))


def test_inconsistent_bars_raise_when_exit_rules_are_on():
    # high below the open: vectorbt's intrabar check (low <= level <= high) and the contract's (low <= level)
    # would part ways; plain signals do not look at high/low and still run
    rows = bars((10.0, 11.0, 9.0, 10.0), (10.2, 10.1, 9.0, 10.0), (10.0, 11.0, 9.0, 10.0))
    s = make_scenario(rows, entries=[1, 0, 0], exits=[0, 0, 0])
    adapter.run(s)
    with pytest.raises(NotImplementedError, match="high/low outside"):
        adapter.run(with_contract(s, stop_loss=0.05))


def test_more_than_one_asset_is_one_cash_pool():
    s = scenario()
    m = s.market
    two = lambda a: np.repeat(a, 2, axis=1)  # noqa: E731
    market = Market(timestamps=m.timestamps, assets=("A00", "A01"), open=two(m.open), high=two(m.high),
                    low=two(m.low), close=two(m.close), volume=two(m.volume),
                    entries=two(m.entries), exits=two(m.exits))
    two_assets = dataclasses.replace(s, market=market)
    # contract mode: one portfolio sharing the cash (tests/vectorbt/test_multi_asset.py); the same
    # signals on both assets buy and sell both, from one cash pool
    r = adapter.run(two_assets)
    assert {f.asset for f in r.fills} == {"A00", "A01"}
    one = adapter.run(s)
    assert len(r.fills) == 2 * len(one.fills)
    # stock mode (plain from_signals, no call order) still refuses it, naming what it lacks
    with pytest.raises(Unsupported, match="2 assets") as info:
        adapter.run(two_assets, "stock")
    assert info.value.knob == "scenario assets"
    # next_close: the signal path's own guard refuses several assets
    with pytest.raises(NotImplementedError, match="2 assets"):
        vbt_adapter._check_supported(with_contract(two_assets, fill="next_close"))


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
    with pytest.raises(vbt_adapter.ContractDivergence, match="tolerance"):
        adapter.run(s)


def test_market_arrays_are_not_touched():
    s = make_scenario(THREE_BARS, entries=[0, 0, 1], exits=[0, 0, 0])
    before = s.market.entries.copy()
    adapter.run(s)
    assert np.array_equal(s.market.entries, before)
    assert not s.market.entries.flags.writeable
