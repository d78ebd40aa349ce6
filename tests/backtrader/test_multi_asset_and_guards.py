"""Several assets side by side, and the adapter refusing what it does not implement."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import numpy as np
import pytest

from adapters import backtrader as bt_adapter

from harness.engines import Unsupported
from harness.results import validate_result
from harness.scenario import Market, Scenario
from tests.builders import bars, make_scenario

BACKTRADER = bt_adapter.Backtrader()

pytestmark = pytest.mark.backtrader

NAN = float("nan")

# Asset A00 trades from bar 0; asset A01 lists on bar 2 (no bars before: NaN).
#          A00: open  high   low    close      A01: open  high  low   close
ROWS = [
    ((100.0, 101.0, 99.0, 100.0), (NAN, NAN, NAN, NAN)),       # 0
    ((100.0, 102.0, 99.5, 101.0), (NAN, NAN, NAN, NAN)),       # 1
    ((101.0, 103.0, 100.5, 102.0), (50.0, 51.0, 49.0, 50.5)),  # 2
    ((102.5, 104.0, 102.0, 103.0), (50.5, 52.0, 50.0, 51.5)),  # 3
    ((103.0, 104.0, 101.0, 101.5), (51.0, 53.0, 50.5, 52.5)),  # 4
    ((101.0, 102.0, 100.0, 100.5), (52.0, 54.0, 51.0, 53.0)),  # 5
]


def two_asset_scenario(fill: str, entries, exits, fee=0.0, slippage=0.0) -> Scenario:
    base = make_scenario(bars(*(r[0] for r in ROWS)), entries=[0] * 6, exits=[0] * 6,
                         fill=fill, fee=fee, slippage=slippage, name="two_assets")

    def grid(k):
        arr = np.array([[r[0][k], r[1][k]] for r in ROWS])
        arr.setflags(write=False)
        return arr

    def sig(cols):
        arr = np.array(cols, dtype=bool).T.copy()
        arr.setflags(write=False)
        return arr

    volume = np.where(np.isnan(grid(3)), NAN, 1000.0)
    volume.setflags(write=False)
    market = Market(timestamps=base.market.timestamps, assets=("A00", "A01"),
                    open=grid(0), high=grid(1), low=grid(2), close=grid(3), volume=volume,
                    entries=sig(entries), exits=sig(exits))
    return Scenario(spec=base.spec, market=market)


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_assets_are_independent_and_a_late_listing_is_fine(fill):
    # A00: entry bar 0, exit bar 3.  A01: entry bar 2 (its first bar), exit bar 4.
    sc = two_asset_scenario(fill, entries=[[1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]],
                            exits=[[0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 1, 0]], fee=0.001, slippage=0.002)
    r = BACKTRADER.run(sc)
    validate_result(r)
    f, s = 0.001, 0.002
    if fill == "close":
        # A00 buy @ close[0]=100.0, sell @ close[3]=103.0; A01 buy @ close[2]=50.5, sell @ close[4]=52.5
        raw = {("A00", "buy"): (0, 100.0), ("A00", "sell"): (3, 103.0),
               ("A01", "buy"): (2, 50.5), ("A01", "sell"): (4, 52.5)}
    else:
        # A00 buy @ open[1]=100.0, sell @ open[4]=103.0; A01 buy @ open[3]=50.5, sell @ open[5]=52.0
        raw = {("A00", "buy"): (1, 100.0), ("A00", "sell"): (4, 103.0),
               ("A01", "buy"): (3, 50.5), ("A01", "sell"): (5, 52.0)}
    got = {(x.asset, x.side): x for x in r.fills}
    assert set(got) == set(raw)
    cash = 10_000.0
    for key, (bar, p) in raw.items():
        px = p * (1 + s) if key[1] == "buy" else p * (1 - s)
        fee = f * 10 * px
        x = got[key]
        assert (x.bar, x.size, x.reason) == (bar, 10.0, "signal")
        assert x.price == pytest.approx(px, rel=1e-12)
        assert x.fee == pytest.approx(fee, rel=1e-9)
        cash += (-1 if key[1] == "buy" else 1) * 10 * px - fee
    assert r.final_value == pytest.approx(cash, rel=1e-9)
    assert all(np.isfinite(r.equity))


def test_two_assets_equity_in_close_mode():
    # A00 in on 0 (100.0) and out on 3 (103.0); A01 in on 2 (50.5), still long at the end (53.0).
    sc = two_asset_scenario("close", entries=[[1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]],
                            exits=[[0, 0, 0, 1, 0, 0], [0] * 6])
    r = BACKTRADER.run(sc)
    expected = [
        10_000.0,                                   # 0: bought A00 at its close
        9_000.0 + 1010.0,                           # 1
        9_000.0 - 505.0 + 1020.0 + 505.0,           # 2: bought A01 at its close
        9_000.0 - 505.0 + 1030.0 + 515.0,           # 3: sold A00
        9_000.0 - 505.0 + 1030.0 + 525.0,           # 4
        9_000.0 - 505.0 + 1030.0 + 530.0,           # 5
    ]
    assert r.equity == pytest.approx(expected, rel=1e-9)
    assert r.final_value == pytest.approx(10_055.0, rel=1e-9)


# ---------------------------------------------------------------------------- guards

OHLC = bars((10.0, 11.0, 9.0, 10.0), (10.0, 11.0, 9.0, 10.5), (10.5, 11.0, 10.0, 10.0))


def with_contract(**changes) -> Scenario:
    sc = make_scenario(OHLC, entries=[1, 0, 0], exits=[0, 1, 0])
    spec = dataclasses.replace(sc.spec, contract=dataclasses.replace(sc.spec.contract, **changes))
    return Scenario(spec=spec, market=sc.market)


def test_a_behaviour_outside_the_contract_modes_capabilities_is_unsupported_with_its_knob():
    with pytest.raises(Unsupported, match=r"\[exits\] stop_resolution"):
        BACKTRADER.run(with_contract(stop_loss=0.05, trailing_stop=0.05, stop_resolution="queue"))


def test_a_contract_the_loader_would_refuse_cannot_even_be_built():
    with pytest.raises(ValueError, match="fill"):
        with_contract(fill="vwap")


def test_unknown_knob_raises(monkeypatch):
    sc = make_scenario(OHLC, entries=[1, 0, 0], exits=[0, 1, 0])

    class FutureContract:
        """A contract with a knob this adapter has never heard of."""

        def __getattr__(self, name):
            return getattr(sc.spec.contract, name)

        def as_dict(self):
            return {**sc.spec.contract.as_dict(), "break_even_stop": 0.05}

    spec = dataclasses.replace(sc.spec, contract=FutureContract())
    with pytest.raises(Unsupported, match="break_even_stop"):
        BACKTRADER.run(Scenario(spec=spec, market=sc.market))


def test_entry_and_exit_on_the_same_bar_raises():
    with pytest.raises(ValueError, match="same bar"):
        BACKTRADER.run(make_scenario(OHLC, entries=[1, 1, 0], exits=[0, 1, 0]))


def test_engine_interface():
    assert (BACKTRADER.name, BACKTRADER.framework) == ("backtrader", "backtrader")
    assert BACKTRADER.framework_version() == "1.9.78.123"
