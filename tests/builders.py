"""Hand-built scenarios for tests: bars and signals written inline, no files."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Sequence

import numpy as np

from harness.contract import Contract
from harness.scenario import Market, Scenario, ScenarioSpec

__all__ = ["bars", "make_scenario"]


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
) -> Scenario:
    """A one-asset scenario from inline bars; signals are 0/1 per bar."""
    n = len(ohlc["close"])
    if not (len(entries) == len(exits) == n):
        raise ValueError("entries, exits and bars must have the same length")
    stamps = tuple(str(d) for d in np.busday_offset(np.datetime64("2021-01-04"), np.arange(n), roll="forward"))
    contract = Contract(fill=fill, cash=float(cash), sizing_mode="fixed", size=float(size),  # type: ignore[arg-type]
                        fee=float(fee), slippage=float(slippage))
    spec = ScenarioSpec(name=name, description="hand-built test bars", family="test", tags=(),
                        contract=contract, generator=MappingProxyType({"name": "hand", "seed": 0}),
                        inputs=MappingProxyType({}), folder=Path("."))
    market = Market(
        timestamps=stamps, assets=("A00",),
        open=_grid(ohlc["open"], float), high=_grid(ohlc["high"], float),
        low=_grid(ohlc["low"], float), close=_grid(ohlc["close"], float),
        volume=_grid(np.full(n, 1000.0), float),
        entries=_grid(entries, bool), exits=_grid(exits, bool),
    )
    return Scenario(spec=spec, market=market)
