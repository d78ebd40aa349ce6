"""The vectorbt adapter: the contract realised with vectorbt 1.2.0's own simulation.

``run(scenario)`` configures ``vbt.Portfolio.from_signals`` (numba engine) so
that vectorbt's fills are the contract's fills, then reads them back from
vectorbt's order records. Nothing here re-implements vectorbt's fill logic:
the adapter only shapes the inputs (signal timing), passes every setting
explicitly, and audits vectorbt's order log afterwards so that any order
vectorbt treated differently from the contract raises instead of passing
silently.

Knob by knob (see /work/shared/docs/semantics.md, "vectorbt 1.2.0 recipe"):

- ``fill = "close"``: signals as given, ``price = close``. A last-bar signal is
  dropped before the hand-over (vectorbt would fill it at the last close).
- ``fill = "next_open"``: entries and exits shifted forward one bar,
  ``price = open``; the order's ``idx`` is then the fill bar t+1, and a last-bar
  signal falls off the end of the shifted arrays.
- ``[sizing] mode = "fixed"``: ``size = size``, ``size_type = "amount"``,
  ``direction = "longonly"``, ``accumulate = False`` (entries while long and
  exits while flat are ignored; an exit sells the whole position).
- ``fee``: ``fees = f`` (fee = f * size * fill price, after slippage).
- ``slippage``: ``slippage = s`` (buys at p*(1+s), sells at p*(1-s)).
- ``cash``: ``init_cash``; an entry that does not fit is rejected whole
  (``allow_partial = False``; vectorbt's PartialFill/NoCashLong rejections).

Layout (so that stops and rotation slot in without a rewrite):

- :func:`_check_supported` refuses every contract value this adapter has not
  been taught (an unknown knob included);
- :func:`_prepare` builds the simulation inputs: :func:`_signal_timing` for
  the fill mode, :func:`_order_settings` for sizing and costs,
  :func:`_stop_settings` (stops: only "none" for now);
- :func:`_simulate` is the single ``from_signals`` call;
- :func:`_audit_orders` checks vectorbt's order log against the contract;
- :func:`_fills` turns order records into canonical fills, with a reason per
  order from :func:`_reasons` (only "signal" for now).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd
import vectorbt as vbt
from vectorbt.portfolio.enums import OrderSide, OrderStatus, OrderStatusInfo

from harness.contract import FILL_MODES
from harness.engines import build_result, make_fill
from harness.results import Fill, RunResult
from harness.scenario import Scenario

__all__ = ["ENGINE", "FRAMEWORK", "framework_version", "run"]

ENGINE = "vectorbt"
FRAMEWORK = "vectorbt"

# The contract fields this adapter realises. A Contract field not listed here
# (a knob added after this adapter was written) makes run() raise.
_HANDLED_KNOBS = frozenset({"fill", "cash", "sizing_mode", "size", "fee", "slippage"})

# vectorbt's order log statuses the contract allows for a rejected buy: the
# cost (size * price + fee) does not fit in the cash and the order is refused
# whole (allow_partial=False turns a would-be partial fill into PartialFill).
_CASH_REJECTIONS = frozenset({OrderStatusInfo.PartialFill, OrderStatusInfo.NoCashLong,
                              OrderStatusInfo.CantCoverFees})

# The bar spacing only feeds vectorbt's annualised statistics, which the
# adapter never reads; set it so vectorbt does not warn.
_FREQ = "1D"


class ContractDivergence(RuntimeError):
    """vectorbt did something the contract forbids, and the adapter cannot undo it."""


def framework_version() -> str:
    return version("vectorbt")


# ----------------------------------------------------------------------- checks


def _check_supported(scenario: Scenario) -> None:
    """Raise on any contract value or market shape this adapter does not realise."""
    contract = scenario.spec.contract
    unknown = set(contract.as_dict()) - _HANDLED_KNOBS
    if unknown:
        raise NotImplementedError(
            f"vectorbt adapter: contract knob(s) {', '.join(sorted(unknown))} are not supported yet"
        )
    if contract.fill not in FILL_MODES:
        raise NotImplementedError(f"vectorbt adapter: fill mode {contract.fill!r} is not supported")
    if contract.sizing_mode != "fixed":
        raise NotImplementedError(f"vectorbt adapter: sizing mode {contract.sizing_mode!r} is not supported")
    for name in ("cash", "size"):
        value = getattr(contract, name)
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"vectorbt adapter: {name} must be finite and positive, got {value!r}")
    for name in ("fee", "slippage"):
        value = getattr(contract, name)
        if not (np.isfinite(value) and 0 <= value < 1):
            raise ValueError(f"vectorbt adapter: {name} must be in [0, 1), got {value!r}")

    market = scenario.market
    if market.n_assets != 1:
        # The contract has ONE portfolio sharing the scenario's cash across assets;
        # that needs group_by=True, cash_sharing=True and a call order matching the
        # reference's, which is not built yet. Independent cash per column would be wrong.
        raise NotImplementedError(
            f"vectorbt adapter: {market.n_assets} assets; only one-asset scenarios are supported yet"
        )
    if market.n_bars < 1:
        raise ValueError("vectorbt adapter: the scenario has no bars")
    for name in ("open", "high", "low", "close"):
        if not np.all(np.isfinite(getattr(market, name))):
            raise NotImplementedError(
                f"vectorbt adapter: non-finite {name} prices (bars where an asset is not listed) are not supported yet"
            )
    if np.any(market.entries & market.exits):
        bar, col = np.argwhere(market.entries & market.exits)[0]
        raise ValueError(
            f"vectorbt adapter: entry and exit on the same bar ({market.timestamps[bar]}, "
            f"{market.assets[col]}) is invalid input"
        )


# ----------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class _Inputs:
    """Everything handed to from_signals: (n_bars, n_assets) float64/bool arrays plus settings."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    entries: np.ndarray
    exits: np.ndarray
    price: np.ndarray
    settings: dict[str, Any]


def _f64(a: np.ndarray) -> np.ndarray:
    """A private, writeable, C-contiguous float64 copy (market arrays are read-only)."""
    return np.array(a, dtype=np.float64, order="C", copy=True)


def _signal_timing(fill: str, open_: np.ndarray, close: np.ndarray,
                   entries: np.ndarray, exits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entries, exits, price) such that vectorbt fills a signal of bar t where the contract does.

    ``close``: fill on bar t at close[t]. vectorbt would also fill a signal on the
    last bar; the contract never does, so last-bar signals are dropped here.
    ``next_open``: a signal of bar t becomes an order on bar t+1 at open[t+1]; the
    shift pushes a last-bar signal past the end, so it never fills.
    """
    entries = np.array(entries, dtype=np.bool_, order="C", copy=True)
    exits = np.array(exits, dtype=np.bool_, order="C", copy=True)
    if fill == "close":
        entries[-1, :] = False
        exits[-1, :] = False
        return entries, exits, close.copy()
    if fill == "next_open":
        shifted_entries = np.zeros_like(entries)
        shifted_exits = np.zeros_like(exits)
        shifted_entries[1:] = entries[:-1]
        shifted_exits[1:] = exits[:-1]
        return shifted_entries, shifted_exits, open_.copy()
    raise NotImplementedError(f"vectorbt adapter: fill mode {fill!r} is not supported")


def _order_settings(scenario: Scenario) -> dict[str, Any]:
    """Sizing, costs and cash: every setting passed explicitly, none from vbt.settings."""
    contract = scenario.spec.contract
    return dict(
        size=float(contract.size),
        size_type="amount",
        direction="longonly",
        accumulate=False,
        fees=float(contract.fee),
        fixed_fees=0.0,
        slippage=float(contract.slippage),
        init_cash=float(contract.cash),
        allow_partial=False,
        raise_reject=False,
        # vbt's default min_size (1e-8) would silently drop small orders; the contract has no minimum.
        min_size=0.0,
        max_size=np.inf,
        size_granularity=np.nan,
        reject_prob=0.0,
        lock_cash=False,
        upon_long_conflict="ignore",
        upon_short_conflict="ignore",
        upon_dir_conflict="ignore",
        upon_opposite_entry="ignore",
        val_price=np.inf,
        ffill_val_price=True,
        update_value=False,
        cash_sharing=False,
        call_seq="default",
    )


def _stop_settings(scenario: Scenario) -> dict[str, Any]:
    """Stop settings; no stop knob exists yet, so stops are explicitly off."""
    return dict(
        sl_stop=np.nan,
        sl_trail=False,
        tp_stop=np.nan,
        stop_entry_price="close",
        stop_exit_price="stopmarket",
        upon_stop_exit="close",
        upon_stop_update="override",
        use_stops=False,
    )


def _prepare(scenario: Scenario) -> _Inputs:
    market = scenario.market
    contract = scenario.spec.contract
    open_, high, low, close = (_f64(market.open), _f64(market.high), _f64(market.low), _f64(market.close))
    entries, exits, price = _signal_timing(contract.fill, open_, close, market.entries, market.exits)
    settings = {**_order_settings(scenario), **_stop_settings(scenario)}
    return _Inputs(open=open_, high=high, low=low, close=close, entries=entries, exits=exits,
                   price=price, settings=settings)


# ------------------------------------------------------------------- simulation


def _simulate(scenario: Scenario, inputs: _Inputs) -> vbt.Portfolio:
    market = scenario.market
    n_cells = market.n_bars * market.n_assets
    close = pd.DataFrame(inputs.close, index=pd.RangeIndex(market.n_bars), columns=list(market.assets))
    return vbt.Portfolio.from_signals(
        close,
        entries=inputs.entries,
        exits=inputs.exits,
        price=inputs.price,
        open=inputs.open,
        high=inputs.high,
        low=inputs.low,
        log=True,
        max_orders=n_cells,
        max_logs=n_cells,
        init_temp_records=False,
        seed=None,
        group_by=None,
        freq=_FREQ,
        attach_call_seq=False,
        fillna_close=False,
        engine="numba",
        **inputs.settings,
    )


def _audit_orders(scenario: Scenario, pf: vbt.Portfolio) -> None:
    """Every order vectorbt tried either filled as the contract says or was a cash rejection.

    vectorbt compares cost and cash with a 1e-9 relative tolerance
    (vectorbt/utils/math_.py ``is_close_or_less_nb`` in portfolio/nb.py ``buy_nb``);
    the contract rejects any cost above the cash. Such an order raises here.
    """
    logs = pf.log_records
    orders = pf.order_records
    for log in logs:
        where = f"{scenario.name}: bar {int(log['idx'])} ({scenario.market.timestamps[int(log['idx'])]}), " \
                f"asset {scenario.market.assets[int(log['col'])]}"
        status, info = int(log["res_status"]), int(log["res_status_info"])
        if status == OrderStatus.Filled:
            if log["res_side"] == OrderSide.Buy:
                cost = log["res_size"] * log["res_price"] + log["res_fees"]
                if cost > log["cash"]:
                    raise ContractDivergence(
                        f"{where}: vectorbt filled a buy costing {cost!r} with only {log['cash']!r} cash "
                        "(within its 1e-9 tolerance); the contract rejects it"
                    )
                if log["res_size"] != log["req_size"]:
                    raise ContractDivergence(
                        f"{where}: vectorbt bought {log['res_size']!r} units instead of {log['req_size']!r}"
                    )
            elif log["new_position"] != 0.0:
                raise ContractDivergence(
                    f"{where}: vectorbt's exit left {log['new_position']!r} units; the contract sells the whole position"
                )
            continue
        if status == OrderStatus.Rejected and log["req_size"] > 0 and info in _CASH_REJECTIONS:
            continue  # entry rejected whole for lack of cash: the contract's rule
        raise ContractDivergence(
            f"{where}: vectorbt did not fill an order of size {log['req_size']!r} "
            f"(status {status}, info {info}); the contract has no such rule"
        )
    filled = int(np.sum(logs["res_status"] == OrderStatus.Filled))
    if filled != len(orders):
        raise ContractDivergence(f"{scenario.name}: {filled} filled orders in the log but {len(orders)} order records")


# ---------------------------------------------------------------------- results


def _reasons(scenario: Scenario, pf: vbt.Portfolio) -> list[str]:
    """The contract reason of each order record; only signal orders exist yet."""
    return ["signal"] * len(pf.order_records)


def _fills(scenario: Scenario, pf: vbt.Portfolio) -> list[Fill]:
    records = pf.order_records
    reasons = _reasons(scenario, pf)
    fills = []
    for rec, reason in zip(records, reasons, strict=True):
        side = {OrderSide.Buy: "buy", OrderSide.Sell: "sell"}[int(rec["side"])]
        fills.append(make_fill(scenario, asset_index=int(rec["col"]), bar=int(rec["idx"]), side=side,
                               size=float(rec["size"]), price=float(rec["price"]), fee=float(rec["fees"]),
                               reason=reason))
    return fills


def _equity(pf: vbt.Portfolio) -> np.ndarray:
    """Portfolio value per bar: cash + position * close[i] after bar i's fills."""
    value = np.asarray(pf.value().to_numpy(), dtype=np.float64)
    if value.ndim == 2:
        if value.shape[1] != 1:  # several columns: one portfolio needs cash sharing (not built yet)
            raise NotImplementedError("vectorbt adapter: multi-column portfolio value")
        value = value[:, 0]
    return value


def run(scenario: Scenario) -> RunResult:
    _check_supported(scenario)
    inputs = _prepare(scenario)
    pf = _simulate(scenario, inputs)
    _audit_orders(scenario, pf)
    equity = _equity(pf)
    final_value = float(equity[-1])
    vbt_final = np.asarray(pf.final_value(), dtype=np.float64).reshape(-1)
    if vbt_final.shape != (1,):
        raise NotImplementedError("vectorbt adapter: multi-column portfolio value")
    vbt_final = float(vbt_final[0])
    if not np.isclose(final_value, vbt_final, rtol=1e-12, atol=0.0):
        raise ContractDivergence(
            f"{scenario.name}: last equity value {final_value!r} disagrees with pf.final_value() {vbt_final!r}"
        )
    return build_result(
        scenario,
        engine=ENGINE,
        framework=FRAMEWORK,
        framework_version=framework_version(),
        fills=_fills(scenario, pf),
        equity=equity,
        final_value=final_value,
    )
