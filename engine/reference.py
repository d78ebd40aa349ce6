"""The reference engine: the contract implemented directly, as a numba kernel.

``run(scenario)`` hands the scenario's arrays and knobs to
:func:`engine.kernel.simulate_signals` and turns its records into the
canonical result. Kernels are compiled once and cached on disk by numba.
"""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import version
from typing import Mapping

import numpy as np

from engine import kernel
from harness.contract import REASON_CODE, REASONS, SIDE_CODE
from harness.engines import build_result, make_fill, make_rejection
from harness.results import RunResult
from harness.scenario import Scenario

__all__ = ["ENGINE", "FRAMEWORK", "framework_version", "run"]

ENGINE = "reference"
FRAMEWORK = "numba"

# The kernel's integer codes must be the contract's.
assert kernel.BUY == SIDE_CODE["buy"] and kernel.SELL == SIDE_CODE["sell"]
assert kernel.REASON_SIGNAL == REASON_CODE["signal"]
assert kernel.REASON_STOP_LOSS == REASON_CODE["stop_loss"]
assert kernel.REASON_TAKE_PROFIT == REASON_CODE["take_profit"]
assert kernel.REASON_TRAILING_STOP == REASON_CODE["trailing_stop"]
assert kernel.REASON_TIME_EXIT == REASON_CODE["time_exit"]
assert kernel.REASON_REBALANCE == REASON_CODE["rebalance"]

_SIDE_NAME = {code: name for name, code in SIDE_CODE.items()}


def framework_version() -> str:
    return version("numba")


def _simulate(scenario: Scenario):
    contract = scenario.spec.contract
    market = scenario.market
    if contract.sizing_mode == "target_weights":
        return kernel.simulate_rotation(
            np.ascontiguousarray(market.open),
            np.ascontiguousarray(market.high),
            np.ascontiguousarray(market.low),
            np.ascontiguousarray(market.close),
            np.ascontiguousarray(market.weights),
            np.ascontiguousarray(market.rebalance),
            contract.fill == "next_open",
            contract.cash,
            contract.fee,
            contract.slippage,
            contract.units == "whole",
            value_floor_div=contract.whole_rounding == "value_floor_div",
            sells_then_assets=contract.rebalance_sequence == "sells_then_assets",
            cap=contract.slippage_cap == "bar",
            submit_check=contract.submit_check,
        )
    if contract.sizing_mode != "fixed":
        raise NotImplementedError(f"sizing mode {contract.sizing_mode!r}")
    off = np.nan
    return kernel.simulate_signals(
        np.ascontiguousarray(market.open),
        np.ascontiguousarray(market.high),
        np.ascontiguousarray(market.low),
        np.ascontiguousarray(market.close),
        np.ascontiguousarray(market.entries),
        np.ascontiguousarray(market.exits),
        contract.fill == "next_open",
        contract.cash,
        contract.size,
        contract.fee,
        contract.slippage,
        off if contract.stop_loss is None else contract.stop_loss,
        off if contract.take_profit is None else contract.take_profit,
        contract.stop_reference == "fill_price",
        off if contract.trailing_stop is None else contract.trailing_stop,
        contract.trail_source == "high",
        0 if contract.max_bars is None else contract.max_bars,
        queue=contract.stop_resolution == "queue",
        gaps_first=contract.gaps_first,
        trail_difference=contract.trail_arithmetic == "difference",
        stops_after_booking=contract.stops_from == "after_booking",
        early_exit_after_stops=contract.early_exit == "after_stops",
        slip_take_profit=contract.slip_take_profit,
        cap=contract.slippage_cap == "bar",
        ref_size_weighted=contract.fill_ref == "size_weighted",
        submit_check=contract.submit_check,
    )


def with_profile(scenario: Scenario, profile: Mapping[str, object]) -> Scenario:
    """``scenario`` whose contract has a framework profile's behaviour knobs set."""
    spec = replace(scenario.spec, contract=scenario.spec.contract.with_profile(dict(profile)))
    return replace(scenario, spec=spec)


def run(scenario: Scenario, profile: Mapping[str, object] | None = None) -> RunResult:
    """The contract's result for ``scenario``; with ``profile``, under those behaviour knobs."""
    if profile:
        scenario = with_profile(scenario, profile)
    fills, n_fills, rejections, n_rejected, equity = _simulate(scenario)
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
    refused = [
        make_rejection(
            scenario,
            asset_index=int(rec[kernel.R_ASSET]),
            bar=int(rec[kernel.R_BAR]),
            side=_SIDE_NAME[int(rec[kernel.R_SIDE])],
            size=rec[kernel.R_SIZE],
            reason=REASONS[int(rec[kernel.R_REASON])],
        )
        for rec in rejections[:n_rejected]
    ]
    return build_result(
        scenario,
        engine=ENGINE,
        framework=FRAMEWORK,
        framework_version=framework_version(),
        fills=records,
        equity=equity,
        final_value=equity[-1],
        rejections=refused,
    )
