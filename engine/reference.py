"""The reference engine: the contract implemented directly, as numba kernels.

:class:`Reference` hands a scenario's arrays and knobs to
:func:`engine.kernel.simulate_signals` or :func:`engine.kernel.simulate_rotation`
and turns their records into canonical fills. It accepts every knob value of
the contract, behaviour knobs included: it is what every other engine's runs,
stock profiles included, are judged against. Kernels are cached on disk by numba.
"""

from __future__ import annotations

from itertools import starmap
from typing import Any

import numpy as np

from engine import kernel
from harness.contract import KNOBS, REASON_CODE, REASONS, SIDE_CODE, SIGNAL_SIZING_MODES, SIZING_FIELD, Contract
from harness.engines import ANY, Engine, Output
from harness.results import FillTable, Rejection
from harness.scenario import Scenario

__all__ = ["Reference", "simulate"]

# The kernel's integer codes must be the contract's.
assert kernel.BUY == SIDE_CODE["buy"] and kernel.SELL == SIDE_CODE["sell"]
assert kernel.REASON_SIGNAL == REASON_CODE["signal"]
assert kernel.REASON_STOP_LOSS == REASON_CODE["stop_loss"]
assert kernel.REASON_TAKE_PROFIT == REASON_CODE["take_profit"]
assert kernel.REASON_TRAILING_STOP == REASON_CODE["trailing_stop"]
assert kernel.REASON_TIME_EXIT == REASON_CODE["time_exit"]
assert kernel.REASON_REBALANCE == REASON_CODE["rebalance"]

# A signal scenario's [sizing] mode: the kernel's sizing code and the Contract field its ``size`` is.
_SIGNAL_SIZING = {
    "fixed": (kernel.SIZING_FIXED, SIZING_FIELD["fixed"]),
    "percent_of_equity": (kernel.SIZING_PERCENT_OF_EQUITY, SIZING_FIELD["percent_of_equity"]),
    "target_value": (kernel.SIZING_TARGET_VALUE, SIZING_FIELD["target_value"]),
}
assert set(_SIGNAL_SIZING) == set(SIGNAL_SIZING_MODES)

_SIDE_NAME = {code: name for name, code in SIDE_CODE.items()}
_OFF = np.nan


def _raw(scenario: Scenario, contract: Contract):
    """The kernel's raw outputs: (fills, n_fills, rejections, n_rejected, equity)."""
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
            contract.whole_rounding == "value_floor_div",
            contract.rebalance_sequence == "sells_then_assets",
            contract.slippage_cap == "bar",
            contract.submit_check,
            contract.last_bar == "fill",
            contract.order_size == "value_delta",
            float(contract.min_order_value),
            contract.whole_rounding == "truncate_at_fill",
            contract.whole_shortfall == "partial",
            contract.sell_residue == "tolerant",
            float(contract.cash_slack),
            contract.arithmetic == "ledger",
            contract.fill == "next_close",
            contract.cash_check == "reject",
            contract.order_rounding == "near_integer",
            float(contract.fixed_fee),
            float(contract.per_share),
            float(contract.min_fee),
            float(contract.slippage_abs),
        )
    sizing, size = _SIGNAL_SIZING[contract.sizing_mode]
    return kernel.simulate_signals(
        np.ascontiguousarray(market.open),
        np.ascontiguousarray(market.high),
        np.ascontiguousarray(market.low),
        np.ascontiguousarray(market.close),
        *_signal_codes(market),
        contract.fill == "next_open",
        contract.cash,
        float(getattr(contract, size)),
        contract.fee,
        contract.slippage,
        _OFF if contract.stop_loss is None else contract.stop_loss,
        _OFF if contract.take_profit is None else contract.take_profit,
        contract.stop_reference == "fill_price",
        _OFF if contract.trailing_stop is None else contract.trailing_stop,
        contract.trail_source == "high",
        0 if contract.max_bars is None else contract.max_bars,
        contract.stop_resolution == "queue",
        contract.gaps_first,
        contract.trail_arithmetic == "difference",
        contract.stops_from == "after_booking",
        contract.early_exit == "after_stops",
        contract.slip_take_profit,
        contract.slippage_cap == "bar",
        contract.fill_ref == "size_weighted",
        contract.submit_check,
        contract.last_bar == "fill",
        contract.open_exit_first,
        contract.open_exit_rules == "reject",
        contract.time_exit_first,
        contract.time_signal_label == "time_exit",
        contract.trail_entry_bar == "close",
        contract.reentry_block == "rule_trigger",
        contract.stops_before_open_entries,
        float(contract.cash_slack),
        contract.arithmetic == "ledger",
        contract.fill == "next_close",
        contract.stop_trigger == "close",
        float(contract.level_tick),
        contract.cash_check == "reject",
        contract.order_rounding == "near_integer",
        float(contract.fixed_fee),
        float(contract.per_share),
        float(contract.min_fee),
        float(contract.slippage_abs),
        sizing,
        contract.units == "whole",
        contract.percent_base == "cash",
        contract.percent_base == "cash_at_fill",
    )


def _signal_codes(market) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's signal codes: entries 1 (long) or 2 (short); exits bit 1 (long) and bit 2 (short)."""
    entries = market.entries.astype(np.int8)
    exits = market.exits.astype(np.int8)
    if market.short_entries is not None:
        entries += 2 * market.short_entries.astype(np.int8)
        exits |= 2 * market.short_exits.astype(np.int8)
    return entries, exits


def _fills(scenario: Scenario, recs: np.ndarray) -> FillTable:
    """The kernel's fill records as canonical columns (no Python object per fill until one is read)."""
    market = scenario.market
    return FillTable(market.assets, market.timestamps, recs[:, kernel.F_ASSET].astype(np.intp),
                     recs[:, kernel.F_BAR].astype(np.intp), recs[:, kernel.F_SIDE].astype(np.int8),
                     recs[:, kernel.F_SIZE], recs[:, kernel.F_PRICE], recs[:, kernel.F_FEE],
                     recs[:, kernel.F_REASON].astype(np.intp))


def _rejections(scenario: Scenario, recs: np.ndarray) -> list[Rejection]:
    """Canonical rejections from the kernel's rejection records (as :func:`harness.engines.make_rejection`)."""
    if len(recs) == 0:
        return []
    market = scenario.market
    bars = recs[:, kernel.R_BAR].astype(np.intp)
    return list(starmap(Rejection, zip(
        _lookup(market.assets, recs[:, kernel.R_ASSET]),
        bars.tolist(),
        _lookup(market.timestamps, bars),
        _sides(recs[:, kernel.R_SIDE]),
        recs[:, kernel.R_SIZE].tolist(),
        _lookup(REASONS, recs[:, kernel.R_REASON]),
    )))


def _lookup(names, codes: np.ndarray) -> list:
    """``[names[int(c)] for c in codes]``, as one numpy take."""
    table = np.empty(len(names), dtype=object)
    table[:] = names
    return table[codes.astype(np.intp)].tolist()


def _sides(codes: np.ndarray) -> list[str]:
    return [_SIDE_NAME[c] for c in codes.astype(np.intp).tolist()]


def simulate(scenario: Scenario, contract: Contract) -> Output:
    """Run the kernel on ``scenario`` under ``contract`` (any contract, e.g. one a search builds)."""
    fills, n_fills, rejections, n_rejected, equity = _raw(scenario, contract)
    return Output(fills=_fills(scenario, fills[:n_fills]), equity=equity, final_value=float(equity[-1]),
                  rejections=_rejections(scenario, rejections[:n_rejected]))


class Reference(Engine):
    """The contract itself: every knob, every value."""

    name = "reference"
    framework = "numba"
    capabilities: dict[str, Any] = {"contract": {knob.field: ANY for knob in KNOBS}}
    # No witness table: the reference engine states the rules; only frameworks witness them.

    def run_signals(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        return simulate(scenario, contract)

    def run_rotation(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        return simulate(scenario, contract)
