"""Hand-built scenarios for tests: bars and signals written inline, no files."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Sequence

import numpy as np

from harness.contract import Contract
from harness.scenario import Market, Scenario, ScenarioSpec

__all__ = ["bars", "make_scenario", "make_rotation"]


def bars(*rows: tuple[float, float, float, float]) -> dict[str, np.ndarray]:
    """OHLC columns from (open, high, low, close) rows, one asset."""
    arr = np.array(rows, dtype=float)
    return {"open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2], "close": arr[:, 3]}


def _grid(values: Sequence, dtype) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim == 1:
        arr = arr[:, None]
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def make_scenario(
    ohlc: dict[str, np.ndarray],
    *,
    entries: Sequence[int],
    exits: Sequence[int],
    fill: str = "close",
    cash: float = 10_000.0,
    size: float = 10.0,
    fee: float = 0.0,
    slippage: float = 0.0,
    name: str = "hand_built",
    **exit_knobs,
) -> Scenario:
    """A scenario from inline bars; signals are 0/1 per bar (or per bar and asset, for 2-D inputs).

    ``exit_knobs``: any of stop_loss, take_profit, stop_reference, trailing_stop,
    trail_source, max_bars (see harness.contract.KNOBS).
    """
    n = len(ohlc["close"])
    if not (len(entries) == len(exits) == n):
        raise ValueError("entries, exits and bars must have the same length")
    stamps = tuple(str(d) for d in np.busday_offset(np.datetime64("2021-01-04"), np.arange(n), roll="forward"))
    contract = Contract(fill=fill, cash=float(cash), sizing_mode="fixed", size=float(size),  # type: ignore[arg-type]
                        fee=float(fee), slippage=float(slippage), **exit_knobs)
    spec = ScenarioSpec(name=name, description="hand-built test bars", family="test", tags=(),
                        contract=contract, generator=MappingProxyType({"name": "hand", "seed": 0}),
                        inputs=MappingProxyType({}), folder=Path("."))
    n_assets = np.asarray(ohlc["close"]).reshape(n, -1).shape[1]
    market = Market(
        timestamps=stamps, assets=tuple(f"A{j:02d}" for j in range(n_assets)),
        open=_grid(ohlc["open"], float), high=_grid(ohlc["high"], float),
        low=_grid(ohlc["low"], float), close=_grid(ohlc["close"], float),
        volume=_grid(np.full(n, 1000.0), float),
        entries=_grid(entries, bool), exits=_grid(exits, bool),
    )
    return Scenario(spec=spec, market=market)


def make_rotation(
    open_: Sequence[Sequence[float]],
    close: Sequence[Sequence[float]],
    weights: dict[int, Sequence[float]],
    *,
    fill: str = "close",
    cash: float = 1_000.0,
    fee: float = 0.0,
    slippage: float = 0.0,
    units: str = "fractional",
    name: str = "hand_built_rotation",
) -> Scenario:
    """A rotation scenario from inline (n_bars, n_assets) opens and closes and {bar: weights}.

    Highs and lows are the max and min of open and close.
    """
    o = np.asarray(open_, dtype=float)
    c = np.asarray(close, dtype=float)
    n, m = c.shape
    grid = np.full((n, m), np.nan)
    for bar, row in weights.items():
        grid[bar] = row
    stamps = tuple(str(d) for d in np.busday_offset(np.datetime64("2021-01-04"), np.arange(n), roll="forward"))
    contract = Contract(fill=fill, cash=float(cash), sizing_mode="target_weights", size=None,  # type: ignore[arg-type]
                        fee=float(fee), slippage=float(slippage), units=units)  # type: ignore[arg-type]
    spec = ScenarioSpec(name=name, description="hand-built rotation", family="test", tags=(), contract=contract,
                        generator=MappingProxyType({"name": "hand", "seed": 0}), inputs=MappingProxyType({}),
                        folder=Path("."))
    market = Market(
        timestamps=stamps, assets=tuple(f"A{j:02d}" for j in range(m)),
        open=_grid(o, float), high=_grid(np.maximum(o, c), float), low=_grid(np.minimum(o, c), float),
        close=_grid(c, float), volume=_grid(np.full((n, m), 1000.0), float),
        entries=_grid(np.zeros((n, m)), bool), exits=_grid(np.zeros((n, m)), bool), weights=_grid(grid, float),
    )
    return Scenario(spec=spec, market=market)
