"""The engines the gate knows, and the one way an engine's output becomes a result.

Every engine module (``engine.reference``, ``adapters.backtrader``,
``adapters.vectorbt``) exposes ``ENGINE`` (its name), ``FRAMEWORK`` (the
package it runs), ``framework_version()`` and ``run(scenario) -> RunResult``.
Engine modules are imported lazily: each lives in its own virtualenv.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType, ModuleType
from typing import Iterable, Sequence

from harness.results import Fill, Rejection, RunResult, canonical_order
from harness.scenario import Scenario

__all__ = ["ENGINES", "import_engine", "build_result", "make_fill", "make_rejection", "check_amounts"]

# name -> module; the order is the order of the gate's table.
ENGINES: dict[str, str] = {
    "reference": "engine.reference",
    "backtrader": "adapters.backtrader",
    "vectorbt": "adapters.vectorbt",
}


def import_engine(name: str) -> ModuleType:
    """Import an engine module by name; ImportError propagates with the missing package named."""
    if name not in ENGINES:
        raise KeyError(f"unknown engine {name!r}; known engines: {', '.join(ENGINES)}")
    return importlib.import_module(ENGINES[name])


def build_result(
    scenario: Scenario,
    *,
    engine: str,
    framework: str,
    framework_version: str,
    fills: Iterable[Fill],
    equity: Sequence[float],
    final_value: float,
    rejections: Iterable[Rejection] = (),
) -> RunResult:
    """Wrap an engine's fills and equity into the canonical result for ``scenario``."""
    spec = scenario.spec
    return RunResult(
        scenario=spec.name,
        engine=engine,
        framework=framework,
        framework_version=framework_version,
        fills=canonical_order(list(fills)),
        timestamps=scenario.market.timestamps,
        equity=tuple(float(v) for v in equity),
        final_value=float(final_value),
        inputs=MappingProxyType(dict(spec.inputs)),
        contract=MappingProxyType(spec.contract.as_dict()),
        rejections=tuple(sorted(rejections, key=lambda r: (r.bar, r.side != "sell", r.asset, r.reason))),
    )


def check_amounts(contract, where: str) -> None:
    """ValueError unless cash (and size, when set) are finite and positive and fee and slippage in [0, 1).

    The loader refuses such values in scenario.toml; engines check again because
    tests and tools may build a Contract directly.
    """
    import math

    for name in ("cash", "size"):
        value = getattr(contract, name)
        if value is not None and not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"{where}: {name} must be finite and positive, got {value!r}")
    for name in ("fee", "slippage"):
        value = getattr(contract, name)
        if not (math.isfinite(value) and 0.0 <= value < 1.0):
            raise ValueError(f"{where}: {name} must be in [0, 1), got {value!r}")


def make_rejection(scenario: Scenario, asset_index: int, bar: int, side: str, size: float,
                   reason: str) -> Rejection:
    """A canonical rejection; ``bar`` is the bar the order would have filled on."""
    market = scenario.market
    return Rejection(asset=market.assets[asset_index], bar=int(bar), timestamp=market.timestamps[bar],
                     side=side, size=float(size), reason=reason)  # type: ignore[arg-type]


def make_fill(scenario: Scenario, asset_index: int, bar: int, side: str, size: float,
              price: float, fee: float, reason: str) -> Fill:
    """A canonical fill from an engine's (asset column, bar index) coordinates."""
    market = scenario.market
    return Fill(asset=market.assets[asset_index], bar=int(bar), timestamp=market.timestamps[bar],
                side=side, size=float(size), price=float(price), fee=float(fee), reason=reason)  # type: ignore[arg-type]
