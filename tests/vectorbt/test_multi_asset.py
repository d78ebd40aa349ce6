"""Several assets with fixed-size signals: one vectorbt portfolio, one cash pool (contract mode).

Hand-made 3-asset bar series where the cash binds, each run through vectorbt and through the
reference engine (engine.reference, importable in this venv): the asset order among a bar's
entries, an exit's cash freeing an entry on the same bar, a stop of an asset that also has an entry
signal (its cash arrives before the other entries: the call order is rerun for it), and in
``next_open`` the open entries not seeing the stop proceeds of the same bar. Plus the stored
multi-asset scenarios against their goldens.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import adapters.vectorbt as vbt_adapter
from adapters.vectorbt import Vectorbt
from harness import golden
from harness.compare import compare_results
from harness.engines import Unsupported
from harness.explain import reference_result
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.builders import make_scenario

pytestmark = pytest.mark.vectorbt

ENGINE = Vectorbt()


def flat(price: float) -> tuple[float, float, float, float]:
    return (price, price + 1.0, price - 1.0, price)


def three_assets(rows: list[list[tuple[float, float, float, float]]], entries, exits, **kw):
    """rows[bar][asset] = (open, high, low, close); entries/exits: {bar: [asset, ...]}."""
    arr = np.array(rows, dtype=float)  # (bars, assets, 4)
    n_bars, n_assets = arr.shape[:2]
    ent = np.zeros((n_bars, n_assets), dtype=int)
    ex = np.zeros((n_bars, n_assets), dtype=int)
    for bar, assets in entries.items():
        ent[bar, assets] = 1
    for bar, assets in exits.items():
        ex[bar, assets] = 1
    ohlc = {k: arr[:, :, j] for j, k in enumerate(("open", "high", "low", "close"))}
    s = make_scenario(ohlc, entries=ent, exits=ex, **kw)
    volume = np.full((n_bars, n_assets), 1000.0)
    volume.setflags(write=False)
    return dataclasses.replace(s, market=dataclasses.replace(s.market, volume=volume))


def key(f):
    return (f.asset, f.bar, f.side, f.reason, f.price)


def runs_and_matches_reference(s):
    r = ENGINE.run(s)
    ref = reference_result(s, s.spec.contract)
    check = compare_results(ref, r)
    assert check.status == "pass", check
    assert sorted(map(key, r.fills)) == sorted(map(key, ref.fills))
    assert [(j.asset, j.bar) for j in r.rejections] == [(j.asset, j.bar) for j in ref.rejections]
    assert r.final_value == ref.final_value
    return r


# close: A00 at 120 then 50 (from bar 3), A01 at 100, A02 at 80 (stop at bar 3); 10 units, cash 2100
CLOSE_ROWS = [
    [flat(120), flat(100), flat(80)],
    [flat(120), flat(100), flat(80)],
    [flat(120), flat(100), flat(80)],
    [flat(50), flat(100), (80.0, 81.0, 70.0, 72.0)],
    [flat(50), flat(100), flat(72)],
    [flat(50), flat(100), flat(72)],
]


def test_close_entries_in_asset_order_exit_cash_frees_entries_same_bar(simulations):
    s = three_assets(CLOSE_ROWS, entries={1: [0, 1, 2], 2: [1], 3: [0, 2]}, exits={2: [0], 4: [1]},
                     cash=2100.0, size=10.0, stop_loss=0.05)
    r = runs_and_matches_reference(s)
    got = sorted(map(key, r.fills), key=lambda k: (k[1], k[0]))
    assert got == [
        # bar 1: A00 (1200) fits, A01 (1000) does not fit the 900 left, A02 (800) does: asset order,
        # not vectorbt's call_seq='auto' (ascending value: A02, A01, then A00 rejected)
        ("A00", 1, "buy", "signal", 120.0), ("A02", 1, "buy", "signal", 80.0),
        # bar 2: A00's exit at the close frees the cash A01's entry needs (100 + 1200 >= 1000)
        ("A00", 2, "sell", "signal", 120.0), ("A01", 2, "buy", "signal", 100.0),
        # bar 3: A02 has an entry signal (ignored: long, and its exit fills) and its stop fills at 76;
        # A00's entry (500) needs that cash (300 before it). A call order with the entry-signal columns
        # last in asset order would run A00's buy first: the adapter reran with A02's sell first.
        ("A00", 3, "buy", "signal", 50.0), ("A02", 3, "sell", "stop_loss", 76.0),
        ("A01", 4, "sell", "signal", 100.0),
    ]
    assert [(j.asset, j.bar) for j in r.rejections] == [("A01", 1)]
    assert simulations[0] == 2  # the first guess executed bar 3 out of the contract's order


# next_open: A00 at 80 (stop at bar 3), A01 at 50 then 100 (from bar 4), A02 at 90; 10 units, cash 1900
NEXT_OPEN_ROWS = [
    [flat(80), flat(50), flat(90)],
    [flat(80), flat(50), flat(90)],
    [flat(80), flat(50), flat(90)],
    [(80.0, 81.0, 70.0, 72.0), flat(50), flat(90)],
    [flat(72), flat(100), flat(90)],
    [flat(72), flat(100), flat(90)],
]


def test_next_open_entries_do_not_see_the_bars_stop_proceeds():
    s = three_assets(NEXT_OPEN_ROWS, entries={0: [0, 2], 2: [1], 3: [1]}, exits={3: [2]},
                     fill="next_open", cash=1900.0, size=10.0, stop_loss=0.05)
    r = runs_and_matches_reference(s)
    got = sorted(map(key, r.fills), key=lambda k: (k[1], k[0]))
    assert got == [
        ("A00", 1, "buy", "signal", 80.0), ("A02", 1, "buy", "signal", 90.0),
        # bar 3: A01's entry at the open (500) sees 200 cash and is rejected; A00's stop (76, +760)
        # fills after it, although A00 comes first in vectorbt's default column order
        ("A00", 3, "sell", "stop_loss", 76.0),
        # bar 4: A02's exit at the open (+900) comes before A01's entry (1000 > 960 without it)
        ("A01", 4, "buy", "signal", 100.0), ("A02", 4, "sell", "signal", 90.0),
    ]
    assert [(j.asset, j.bar) for j in r.rejections] == [("A01", 3)]


def test_without_exit_rules_the_order_is_the_same():
    s = three_assets(CLOSE_ROWS, entries={1: [0, 1, 2], 2: [1]}, exits={2: [0], 4: [1, 2]},
                     cash=2100.0, size=10.0)
    r = runs_and_matches_reference(s)
    assert [(j.asset, j.bar) for j in r.rejections] == [("A01", 1)]


@pytest.mark.parametrize("name", ["multi_signals_close", "multi_signals_next_open"])
def test_stored_multi_asset_scenario_matches_its_golden(name):
    s = load_scenario(SCENARIOS_DIR / name)
    r = ENGINE.run(s)
    check = golden.check(name, r)
    assert check.status == "pass", check
    assert check.max_rel["price"] <= 1e-12 and check.max_rel["size"] <= 1e-9
    assert check.max_rel["final_value"] <= 1e-9


def test_several_assets_next_close_and_stock_mode_stay_unsupported():
    with pytest.raises(Unsupported) as info:
        ENGINE.run(load_scenario(SCENARIOS_DIR / "multi_signals_next_close"))
    assert info.value.knob == "[execution] fill"
    with pytest.raises(Unsupported) as info:
        ENGINE.run(load_scenario(SCENARIOS_DIR / "multi_signals_close"), "stock")
    assert info.value.knob == "scenario assets"


def test_a_call_order_breach_is_reported(monkeypatch):
    # if vectorbt ever ran a bar's orders out of the contract's order, the adapter raises, never returns it
    s = three_assets(CLOSE_ROWS, entries={1: [0, 1, 2], 2: [1], 3: [0, 2]}, exits={2: [0], 4: [1]},
                     cash=2100.0, size=10.0, stop_loss=0.05)
    monkeypatch.setattr(vbt_adapter, "_call_seq",
                        lambda kinds, fill: np.tile(np.arange(kinds.shape[1])[::-1], (kinds.shape[0], 1)))
    with pytest.raises(vbt_adapter.ContractDivergence, match="no call order"):
        ENGINE.run(s)
