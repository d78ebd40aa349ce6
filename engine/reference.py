"""The reference engine: the contract implemented directly, as a numba kernel.

``run(scenario)`` hands the scenario's arrays and knobs to
:func:`engine.kernel.simulate_signals` and turns its records into the
canonical result. Kernels are compiled once and cached on disk by numba.
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np

from engine import kernel
from harness.contract import REASON_CODE, REASONS, SIDE_CODE
from harness.engines import build_result, make_fill
from harness.results import RunResult
from harness.scenario import Scenario

__all__ = ["ENGINE", "FRAMEWORK", "framework_version", "run"]

ENGINE = "reference"
FRAMEWORK = "numba"

# The kernel's integer codes must be the contract's.
assert kernel.BUY == SIDE_CODE["buy"] and kernel.SELL == SIDE_CODE["sell"]
assert kernel.REASON_SIGNAL == REASON_CODE["signal"]

_SIDE_NAME = {code: name for name, code in SIDE_CODE.items()}


def framework_version() -> str:
    return version("numba")


def run(scenario: Scenario) -> RunResult:
    contract = scenario.spec.contract
    if contract.sizing_mode != "fixed":
        raise NotImplementedError(f"sizing mode {contract.sizing_mode!r}")
    market = scenario.market
    fills, n_fills, equity, _n_rejected = kernel.simulate_signals(
        np.ascontiguousarray(market.open),
        np.ascontiguousarray(market.close),
        np.ascontiguousarray(market.entries),
        np.ascontiguousarray(market.exits),
        contract.fill == "next_open",
        contract.cash,
        contract.size,
        contract.fee,
        contract.slippage,
    )
    records = [
        make_fill(
            scenario,
            asset_index=int(rec[kernel.F_ASSET]),
            bar=int(rec[kernel.F_BAR]),
            side=_SIDE_NAME[int(rec[kernel.F_SIDE])],
            size=rec[kernel.F_SIZE],
            price=rec[kernel.F_PRICE],
            fee=rec[kernel.F_FEE],
            reason=REASONS[int(rec[kernel.F_REASON])],
        )
        for rec in fills[:n_fills]
    ]
    return build_result(
        scenario,
        engine=ENGINE,
        framework=FRAMEWORK,
        framework_version=framework_version(),
        fills=records,
        equity=equity,
        final_value=equity[-1],
    )
