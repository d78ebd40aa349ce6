"""Target-weight rotation realised with vectorbt 1.2.0's own ``Portfolio.from_orders``.

``run_rotation(scenario)`` handles scenarios whose ``[sizing] mode`` is
``"target_weights"`` (``adapters.vectorbt`` dispatches here). Every fill is
vectorbt's: its ``simulate_from_orders_nb`` sorts the orders
(``call_seq='auto'``), converts each target weight into units
(``execute_order_nb``) and fills or refuses it (``buy_nb``/``sell_nb``). This
module only shapes the inputs, reads the records back and audits vectorbt's
order log against the contract (engine/kernel.py ``rebalance_orders``,
``_execute_rebalance``, ``simulate_rotation``), raising
:class:`ContractDivergence` wherever vectorbt did something the contract
forbids instead of returning it.

Configuration, knob by knob (source: vectorbt/portfolio/nb.py)
---------------------------------------------------------------

Always: ``size = w`` (the weights grid, NaN off rebalance bars and for assets
not listed yet), ``size_type = "targetpercent"``, ``direction = "longonly"``,
``group_by = True`` + ``cash_sharing = True`` (one portfolio, one cash pool,
``init_cash = cash``), ``call_seq = "auto"``, ``update_value = False`` (V stays
the value at the start of the bar for every order of the bar, as in the
contract), ``ffill_val_price = True``, ``fixed_fees = 0``, ``min_size = 0``
(the default 1e-8 drops small trades), ``max_size = inf``, ``reject_prob = 0``,
``lock_cash = False``, ``raise_reject = False``, ``log`` True on the bars that
carry orders, ``fillna_close = False``.

Why this is the contract:

- V: ``simulate_from_orders_nb`` computes the group value once per bar as
  ``cash + sum(last_position * last_val_price)`` over non-zero positions, in
  column order, exactly the kernel's ``value`` (same additions, same order).
- Order size: ``execute_order_nb`` turns ``w`` into ``((w * V) / val_price) -
  position`` units (TargetPercent -> TargetValue -> TargetAmount -> Amount),
  the kernel's ``w * V / close - position`` operation for operation.
- Sequence: ``approx_order_value_nb`` for TargetPercent is ``w * V -
  position * val_price``, the kernel's sort key; ``insert_argsort_nb`` is a
  stable ascending insertion sort (strict ``>``: ties keep asset order) that
  moves NaN keys (NaN weights: assets not listed) to the end, where their
  orders are ignored (``SizeNaN``) without reordering the others.
- ``fee``: ``fees = f`` (``buy_nb``/``sell_nb``: fee = f * size * slipped
  price). ``slippage``: ``slippage = s`` (buys ``p*(1+s)``, sells ``p*(1-s)``).

``fill = "close"``: ``price = close`` and ``val_price = close`` passed as an
array (the same as vectorbt's default ``val_price = np.inf``, "the order
price", except that it stays the close where this module withholds an order,
see below). A rebalance on the last bar is dropped: vectorbt would fill it.

``fill = "next_open"``: the weights are shifted forward one bar (an order
decided on bar t is handed to vectorbt on bar t+1), ``price = open`` and
``val_price = -np.inf`` (vectorbt's "previous close": V and the sort keys come
from close[t], sized from close[t] as the contract says). The shift pushes a
last-bar rebalance past the end. vectorbt logs the order on bar t+1, which is
the contract's rejection bar too (the bar it would have filled on).

``units = "fractional"``: ``size_granularity = NaN``, ``allow_partial =
False``: a buy whose cost does not fit takes ``buy_nb``'s "insufficient cash"
branch, is cut to what the cash buys, and is then refused whole as
``PartialFill`` (or ``NoCashLong`` when the cash is 0).

``units = "whole"``: ``size_granularity = 1`` (``buy_nb``/``sell_nb`` floor the
size's magnitude: ``size // 1 * 1``) with ``allow_partial = True``, and
withheld orders. The semantics brief's ``allow_partial=False`` cannot be used
here: ``buy_nb`` and ``sell_nb`` compare the *floored* size with the
*unfloored* request (``is_less_nb(final_size, size) and not allow_partial``
-> ``PartialFill``), so every order whose size is not already an integer is
refused, sells included (checked: 16.67 units -> Rejected, status_info 13).
With ``allow_partial = True`` a whole-unit buy that does not fit is instead
*cut short* to ``floor(cash / (price * (1 + s) * (1 + f)))`` units (possibly 0)
by the same cash check (``is_close_or_less_nb(total_req_cash, cash_limit)``).
The contract wants it rejected whole, so the module runs vectorbt again with
that one order withheld: its ``price`` set to NaN on that bar, which
``execute_order_nb`` ignores (``PriceNaN``) while its sort key (``w``, the
position, ``val_price`` and V) and hence the sequence of the other orders stay
untouched. Passes repeat until vectorbt cuts no buy short; each pass fixes the
earliest cut-short buy in execution order, so it ends after (whole-unit cash
rejections + 1) passes. The decision "does not fit" is vectorbt's own cash
check in every pass; the withheld orders are the contract's rejections.

Reading the results back
------------------------

- Fills: ``pf.order_records`` (col, idx = fill bar, size, price after
  slippage, fees, side), reason ``"rebalance"``.
- Rejections: order records hold only fills, so they come from
  ``pf.log_records`` (one per asset and logged bar, in execution order). The
  size in units is rebuilt from vectorbt's logged state with
  ``execute_order_nb``'s own arithmetic: ``((req_size * value) / val_price) -
  position`` with vectorbt's near-zero clean-up (``is_close_nb(x, 0)`` -> 0),
  floored in whole units (``// 1 * 1``, and a sell limited to the position, as
  ``sell_nb`` does). A rejection is a logged buy with status Rejected and info
  ``PartialFill``/``NoCashLong``/``CantCoverFees``, or an order this module
  withheld (logged as Ignored/``PriceNaN``); its bar is the log's ``idx``.
- Audit (every logged order): a filled order's size must equal the rebuilt
  units to the bit; a filled buy must satisfy the contract's check ``size *
  p + f * size * p <= cash`` on the logged cash (vectorbt accepts up to its
  relative tolerance of about 1e-9, ``is_close_or_less_nb``: a buy the
  contract rejects but vectorbt filled raises "contract divergence"); a
  rejected buy must fail that check; an ignored zero-size order
  (``SizeZero``) must be zero units in the contract too (vectorbt also treats
  ``|size| <= 1e-12`` as zero, ``is_close_nb(adj_size, 0)``, where the
  contract trades that dust: raises); a ``NoOpenPosition`` refusal must be a
  weight-0 target for an asset not held (``sell_nb`` in longonly mode); any
  other status raises. Two more checks compare vectorbt with the contract's
  own arithmetic on the same logged state: the order size without vectorbt's
  near-zero clean-up of its state must be the same number, and the position
  after each fill must be ``position + size`` exactly (vectorbt's ``add_nb``
  sets a sum within 1e-9 relative of 0 to 0; the contract keeps the residue).
- Equity: ``pf.value()`` of the one group: vectorbt's cash (initial cash plus
  the order records' cash flows) plus ``sum(position * close)`` per bar;
  ``final_value`` is its last value, cross-checked with ``pf.final_value()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import vectorbt as vbt
from vectorbt.portfolio.enums import OrderSide, OrderStatus, OrderStatusInfo
from vectorbt.utils.math_ import abs_tol as VBT_ABS_TOL
from vectorbt.utils.math_ import rel_tol as VBT_REL_TOL

from adapters._vectorbt_common import ContractDivergence

from harness.contract import FILL_MODES
from harness.engines import Output, make_fill, make_rejection
from harness.results import Fill, Rejection
from harness.scenario import Scenario

__all__ = ["run_rotation"]

REASON = "rebalance"

# The contract fields this module realises; any other field set in the contract raises.
_HANDLED_KNOBS = frozenset({"fill", "cash", "sizing_mode", "fee", "slippage", "units"})
_UNITS = ("fractional", "whole")

# vectorbt's refusals of a buy for lack of cash (the contract's whole rejection).
_CASH_REJECTIONS = frozenset({OrderStatusInfo.PartialFill, OrderStatusInfo.NoCashLong,
                              OrderStatusInfo.CantCoverFees})

# Only vectorbt's annualised statistics use the bar spacing; set so that it does not warn.
_FREQ = "1D"


# ----------------------------------------------------------------------- checks


def _check_supported(scenario: Scenario) -> None:
    """Raise on any contract value or market shape this module does not realise."""
    contract = scenario.spec.contract
    if contract.sizing_mode != "target_weights":
        raise NotImplementedError(f"vectorbt rotation: sizing mode {contract.sizing_mode!r} is not target_weights")
    unknown = set(contract.as_dict()) - _HANDLED_KNOBS
    if unknown:
        raise NotImplementedError(f"vectorbt rotation: contract knob(s) {', '.join(sorted(unknown))} are not supported")
    if contract.has_exit_rules:
        raise NotImplementedError("vectorbt rotation: exit rules do not apply to target-weight scenarios")
    if contract.fill not in FILL_MODES:
        raise NotImplementedError(f"vectorbt rotation: fill mode {contract.fill!r} is not supported")
    if contract.units not in _UNITS:
        raise NotImplementedError(f"vectorbt rotation: units {contract.units!r} is not supported")

    market = scenario.market
    weights = market.weights
    if weights is None:
        raise ValueError(f"vectorbt rotation: scenario {scenario.name} has no weights")
    if weights.shape != (market.n_bars, market.n_assets):
        raise ValueError(f"vectorbt rotation: weights are {weights.shape}, prices {(market.n_bars, market.n_assets)}")
    listed = ~np.isnan(market.close)
    for name in ("open", "close"):
        arr = getattr(market, name)
        if np.any(np.isnan(arr) != ~listed):
            raise ValueError(f"vectorbt rotation: open and close must be NaN on the same bars ({name})")
        if np.any(~(arr[listed] > 0)) or np.any(~np.isfinite(arr[listed])):
            raise ValueError(f"vectorbt rotation: {name} prices must be finite and positive where listed")
    for j, asset in enumerate(market.assets):
        if listed[:, j].any():
            first = int(np.argmax(listed[:, j]))
            if not listed[first:, j].all():
                # A position in an asset whose close turns NaN has no value in the contract either.
                raise NotImplementedError(f"vectorbt rotation: asset {asset} has bars without prices after listing")
    has_weight = ~np.isnan(weights)
    if np.any(has_weight & ~listed):
        bar, col = np.argwhere(has_weight & ~listed)[0]
        raise ValueError(f"vectorbt rotation: a weight for {market.assets[col]} at {market.timestamps[bar]}, "
                         "before it lists; only listed assets take target weights")
    w = weights[has_weight]
    if np.any((w < 0) | (w > 1)):
        raise ValueError("vectorbt rotation: target weights must be in [0, 1] (long only, no leverage)")


# ----------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What from_orders gets, as (n_bars, n_assets) float64 grids plus the knob-derived settings."""

    close: np.ndarray
    size: np.ndarray        # target weight on the bar vectorbt handles the order (NaN: no order)
    price: np.ndarray       # order price: close (close mode) or open (next_open mode)
    val_price: np.ndarray | float
    log: np.ndarray         # bool per bar and asset: log the bars that carry orders
    whole: bool
    settings: dict


def _f64(a: np.ndarray) -> np.ndarray:
    """A private, writeable, C-contiguous float64 copy (market arrays are read-only)."""
    return np.array(a, dtype=np.float64, order="C", copy=True)


def _prepare(scenario: Scenario) -> _Inputs:
    contract = scenario.spec.contract
    market = scenario.market
    close = _f64(market.close)
    weights = _f64(market.weights)
    weights[~market.rebalance] = np.nan
    weights[-1] = np.nan  # a rebalance on the last bar never fills (vectorbt would fill it at the close)
    if contract.fill == "close":
        size, price, val_price = weights, close.copy(), close.copy()
    else:
        size = np.full_like(weights, np.nan)
        size[1:] = weights[:-1]  # decided on bar t from close[t], handed to vectorbt on bar t+1
        price = _f64(market.open)
        val_price = -np.inf      # vectorbt's "previous close": close[t] values the portfolio on bar t+1
    rows = ~np.all(np.isnan(size), axis=1)
    log = np.zeros(size.shape, dtype=np.bool_)
    log[rows] = True
    whole = contract.units == "whole"
    settings = dict(
        size_type="targetpercent",
        direction="longonly",
        fees=float(contract.fee),
        fixed_fees=0.0,
        slippage=float(contract.slippage),
        min_size=0.0,               # vectorbt's default 1e-8 would drop small trades
        max_size=np.inf,
        size_granularity=1.0 if whole else np.nan,
        reject_prob=0.0,
        lock_cash=False,
        allow_partial=whole,        # see the module docstring: whole units need True plus withheld orders
        raise_reject=False,
        init_cash=float(contract.cash),
        cash_sharing=True,
        group_by=True,
        call_seq="auto",
        ffill_val_price=True,
        update_value=False,
    )
    return _Inputs(close=close, size=size, price=price, val_price=val_price, log=log, whole=whole,
                   settings=settings)


def _simulate(scenario: Scenario, inputs: _Inputs, withheld: set[tuple[int, int]]) -> vbt.Portfolio:
    """One from_orders run; the withheld (bar, asset) orders get a NaN price (vectorbt ignores them)."""
    market = scenario.market
    price = inputs.price.copy()
    for bar, col in withheld:
        price[bar, col] = np.nan
    n_logged = int(inputs.log.sum())
    close = pd.DataFrame(inputs.close, index=pd.RangeIndex(market.n_bars), columns=list(market.assets))
    return vbt.Portfolio.from_orders(
        close,
        size=inputs.size,
        price=price,
        val_price=inputs.val_price,
        log=inputs.log,
        max_orders=max(n_logged, 1),
        max_logs=max(n_logged, 1),
        init_temp_records=False,
        seed=None,
        freq=_FREQ,
        attach_call_seq=False,
        fillna_close=False,
        engine="numba",
        **inputs.settings,
    )


# ------------------------------------------------------------------------ audit


@dataclass(frozen=True, slots=True)
class _Audit:
    rejections: list[Rejection]
    cut_short: tuple[int, int] | None  # whole units: the earliest buy vectorbt filled only in part


def _zeroed(x: np.ndarray) -> np.ndarray:
    """execute_order_nb's clean-up of its state: ``is_close_nb(x, 0)`` -> 0 (vectorbt/utils/math_.py).

    The same test as ``is_close_nb`` with b = 0, elementwise (calling the numba
    function from Python once per log record costs ~0.4 ms each).
    """
    finite = np.isfinite(x)
    close_to_zero = finite & ((x == 0.0) | (np.abs(x) <= np.maximum(VBT_REL_TOL * np.abs(x), VBT_ABS_TOL)))
    return np.where(close_to_zero, 0.0, x)


def _order_units(weight: np.ndarray, value: np.ndarray, val_price: np.ndarray, position: np.ndarray,
                 whole: bool, vectorbt: bool) -> np.ndarray:
    """Order sizes in units from vectorbt's logged state (NaN where there is no weight).

    Signed: positive buys, negative sells. ``vectorbt=True``: as execute_order_nb/buy_nb/
    sell_nb compute them: the state cleaned up (``_zeroed``), TargetPercent ``w *= value``,
    TargetValue ``/= val_price``, TargetAmount ``-= position``, a sell limited to the position
    (sell_nb, longonly), whole units floored (``size // 1 * 1``). ``vectorbt=False``: the
    contract's ``w * V / close - position`` on the same state (engine/kernel.py
    ``rebalance_orders``), floored the same way. Elementwise float64: the same IEEE operations
    in the same order.
    """
    if vectorbt:
        position, value, val_price = _zeroed(position), _zeroed(value), _zeroed(val_price)
    units = weight * value
    units = units / val_price
    units = units - position
    if not vectorbt:
        with np.errstate(invalid="ignore"):
            if whole:
                units = np.where(units >= 0, np.floor(units), -np.floor(-units))
        return units
    with np.errstate(invalid="ignore"):
        buy = np.where(units > 0, units, 0.0)
        sell = np.where(units > 0, 0.0, np.minimum(position, -units))
    if whole:
        buy = buy // 1.0 * 1.0
        sell = sell // 1.0 * 1.0
    return np.where(units > 0, buy, -sell)


def _contract_cost(units: np.ndarray, raw_price: np.ndarray, fee: float, slippage: float) -> np.ndarray:
    """Buys' costs as the contract (engine/kernel.py ``_buy``) computes them: size*p + f*size*p, p slipped."""
    price = raw_price * (1.0 + slippage)
    return units * price + fee * units * price


def _audit(scenario: Scenario, inputs: _Inputs, pf: vbt.Portfolio, withheld: set[tuple[int, int]]) -> _Audit:
    """Walk vectorbt's log in execution order: every order is a contract fill, rejection or no-order.

    The log holds one record per asset on each logged bar, in the order vectorbt
    executed them (``call_seq`` after sorting), with the state before the order
    (cash, position, val_price, value) and the request (``req_size`` = the weight).
    """
    contract = scenario.spec.contract
    market = scenario.market
    logs = pf.log_records
    logged_rows = int(np.sum(np.any(inputs.log, axis=1)))
    if len(logs) != logged_rows * market.n_assets:
        raise ContractDivergence(f"{scenario.name}: {len(logs)} log records, expected one per asset on each of "
                                 f"{logged_rows} order bars")
    if np.any(np.diff(logs["id"]) != 1):
        raise ContractDivergence(f"{scenario.name}: log records are not in execution order")
    bars, cols = logs["idx"], logs["col"]
    weights = logs["req_size"]
    units = _order_units(weights, logs["value"], logs["val_price"], logs["position"], inputs.whole, vectorbt=True)
    # vectorbt's clean-up of near-zero state (and its longonly cap) must not change any order
    contract_units = _order_units(weights, logs["value"], logs["val_price"], logs["position"], inputs.whole,
                                  vectorbt=False)
    differs = ~np.isnan(weights) & (units != contract_units)
    if np.any(differs):
        k = int(np.argmax(differs))
        raise ContractDivergence(
            f"contract divergence: {scenario.name}: bar {int(logs['idx'][k])}, asset "
            f"{market.assets[int(logs['col'][k])]}: vectorbt sizes the order {float(units[k])!r} units, the "
            f"contract {float(contract_units[k])!r} (vectorbt zeroes state within 1e-12 of 0, is_close_nb)")
    raw_price = inputs.price[bars, cols]  # before withholding (a withheld order's logged price is NaN)
    costs = _contract_cost(units, raw_price, contract.fee, contract.slippage)
    cash = logs["cash"]
    status, info = logs["res_status"], logs["res_status_info"]
    res_size, res_side = logs["res_size"], logs["res_side"]
    position, new_position = logs["position"], logs["new_position"]

    no_weight = np.isnan(weights)
    bad = no_weight & ~((status == OrderStatus.Ignored) & (info == OrderStatusInfo.SizeNaN))
    if np.any(bad):
        k = int(np.argmax(bad))
        raise ContractDivergence(f"{scenario.name}: bar {int(bars[k])}, asset {market.assets[int(cols[k])]}: "
                                 f"no target weight, yet vectorbt returned status {int(status[k])}/{int(info[k])}")

    rejections: list[Rejection] = []
    n_filled = 0
    for k in np.flatnonzero(~no_weight).tolist():
        bar, col = int(bars[k]), int(cols[k])
        where = f"{scenario.name}: bar {bar} ({market.timestamps[bar]}), asset {market.assets[col]}"
        st, inf_ = int(status[k]), int(info[k])
        u, cost, cash_k = float(units[k]), float(costs[k]), float(cash[k])
        if (bar, col) in withheld:
            if (st, inf_) != (OrderStatus.Ignored, OrderStatusInfo.PriceNaN):
                raise ContractDivergence(f"{where}: a withheld order came back with status {st}/{inf_}")
            if not (u > 0 and cost > cash_k):
                raise ContractDivergence(f"{where}: withheld buy of {u!r} units costing {cost!r} fits in {cash_k!r}")
            rejections.append(make_rejection(scenario, col, bar, "buy", u, REASON))
            continue
        if st == OrderStatus.Filled:
            n_filled += 1
            size = float(res_size[k])
            if int(res_side[k]) == OrderSide.Buy:
                if u <= 0:
                    raise ContractDivergence(f"{where}: vectorbt bought {size!r} units; the contract sells {-u!r}")
                if size != u:
                    if inputs.whole and size < u:
                        # cut short by cash: withhold it and run again (see the module docstring); what
                        # vectorbt did after it rests on a state the contract never reaches
                        return _Audit(rejections=rejections, cut_short=(bar, col))
                    raise ContractDivergence(f"{where}: vectorbt bought {size!r} units instead of {u!r}")
                if cost > cash_k:
                    raise ContractDivergence(
                        f"contract divergence: {where}: vectorbt filled a buy of {u!r} units costing {cost!r} "
                        f"with only {cash_k!r} cash (within its 1e-9 relative cash tolerance, "
                        "vectorbt/utils/math_.py is_close_or_less_nb in buy_nb); the contract rejects it")
            elif size != -u:
                raise ContractDivergence(f"{where}: vectorbt sold {size!r} units; the contract sells {-u!r}")
            held = float(position[k]) + u  # the contract's position after the fill
            if float(new_position[k]) != held:
                # add_nb (vectorbt/utils/math_.py) sets a result within 1e-9 relative of 0 to 0
                raise ContractDivergence(
                    f"contract divergence: {where}: vectorbt holds {float(new_position[k])!r} units after the "
                    f"fill, the contract {held!r} (vectorbt's add_nb rounds near-zero positions to 0)")
            continue
        if st == OrderStatus.Rejected and inf_ in _CASH_REJECTIONS:
            if not (u > 0 and cost > cash_k):
                raise ContractDivergence(
                    f"contract divergence: {where}: vectorbt refused a buy of {u!r} units costing {cost!r} "
                    f"with {cash_k!r} cash (status info {inf_}); the contract fills it")
            rejections.append(make_rejection(scenario, col, bar, "buy", u, REASON))
            continue
        if (st, inf_) in ((OrderStatus.Ignored, OrderStatusInfo.SizeZero),
                          (OrderStatus.Rejected, OrderStatusInfo.NoOpenPosition)):
            # SizeZero: floored to 0, or vectorbt's is_close_nb(size, 0) (|size| <= 1e-12);
            # NoOpenPosition: sell_nb (longonly) asked to sell 0 units of an asset not held (weight 0).
            if u != 0.0:
                raise ContractDivergence(
                    f"contract divergence: {where}: vectorbt dropped an order of {u!r} units as zero "
                    f"(status {st}/{inf_}, vectorbt/utils/math_.py is_close_nb: |size| <= 1e-12); "
                    "the contract trades it")
            continue
        raise ContractDivergence(f"{where}: vectorbt returned status {st}/{inf_} for target weight "
                                 f"{float(weights[k])!r} ({u!r} units); the contract has no such outcome")
    if n_filled != len(pf.order_records):
        raise ContractDivergence(f"{scenario.name}: {n_filled} filled orders in the log, "
                                 f"{len(pf.order_records)} order records")
    return _Audit(rejections=rejections, cut_short=None)


# ---------------------------------------------------------------------- results


def _fills(scenario: Scenario, pf: vbt.Portfolio) -> list[Fill]:
    side_name = {OrderSide.Buy: "buy", OrderSide.Sell: "sell"}
    return [make_fill(scenario, int(rec["col"]), int(rec["idx"]), side_name[int(rec["side"])], float(rec["size"]),
                      float(rec["price"]), float(rec["fees"]), REASON)
            for rec in pf.order_records]


def _equity(scenario: Scenario, pf: vbt.Portfolio) -> np.ndarray:
    """The group's value per bar: cash + sum(position * close[i]) after bar i's fills."""
    value = np.asarray(pf.value(), dtype=np.float64).reshape(-1)
    if value.shape != (scenario.market.n_bars,):
        raise ContractDivergence(f"{scenario.name}: pf.value() has shape {value.shape}; one group expected")
    return value


def _run_vectorbt(scenario: Scenario) -> tuple[vbt.Portfolio, _Audit, int]:
    """Run from_orders until no whole-unit buy is cut short; returns (portfolio, audit, passes)."""
    inputs = _prepare(scenario)
    withheld: set[tuple[int, int]] = set()
    max_passes = int(np.sum(~np.isnan(inputs.size))) + 1  # each pass withholds one more order
    for n_pass in range(1, max_passes + 1):
        pf = _simulate(scenario, inputs, withheld)
        audit = _audit(scenario, inputs, pf, withheld)
        if audit.cut_short is None:
            return pf, audit, n_pass
        withheld.add(audit.cut_short)
    raise ContractDivergence(f"{scenario.name}: whole-unit buys still cut short after {max_passes} passes")


def run_rotation(scenario: Scenario) -> Output:
    """The contract's target-weight rotation, simulated by vectorbt's from_orders."""
    _check_supported(scenario)
    pf, audit, _ = _run_vectorbt(scenario)
    equity = _equity(scenario, pf)
    final_value = float(equity[-1])
    vbt_final = float(np.asarray(pf.final_value(), dtype=np.float64).reshape(-1)[0])
    if not np.isclose(final_value, vbt_final, rtol=1e-12, atol=0.0):
        raise ContractDivergence(
            f"{scenario.name}: last equity value {final_value!r} disagrees with pf.final_value() {vbt_final!r}")
    return Output(fills=_fills(scenario, pf), equity=equity, final_value=final_value, rejections=audit.rejections)
