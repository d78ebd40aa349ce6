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

from harness.results import Fill, RunResult, canonical_order
from harness.scenario import Scenario

__all__ = ["ENGINES", "import_engine", "build_result", "make_fill"]

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
    )


def make_fill(scenario: Scenario, asset_index: int, bar: int, side: str, size: float,
              price: float, fee: float, reason: str) -> Fill:
    """A canonical fill from an engine's (asset column, bar index) coordinates."""
    market = scenario.market
    return Fill(asset=market.assets[asset_index], bar=int(bar), timestamp=market.timestamps[bar],
                side=side, size=float(size), price=float(price), fee=float(fee), reason=reason)  # type: ignore[arg-type]
