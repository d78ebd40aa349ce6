"""vectorbt 1.2.0 in ``stock`` mode: ``vbt.Portfolio.from_signals`` as its users write it.

The run is one plain ``from_signals`` call with documented arguments only and,
unless the scenario has a time exit, no callback (vectorbt then takes its
static simulator, portfolio/nb.py:1916 ``simulate_from_signals_nb``):

- ``close``, ``open``, ``high``, ``low``; ``entries``/``exits`` as given with
  ``price=close`` (``fill = "close"``), or shifted one bar forward with
  ``price=open`` (``next_open``) or ``price=close`` (``next_close``), which is
  how vectorbt's users trade on the next bar;
- ``size=size, size_type="amount"`` (``target_value``: ``size=value,
  size_type="value"`` with ``val_price=-np.inf`` in ``next_open`` mode, the
  documented valuation at the previous close; fractional units only),
  ``fees=f``, ``fixed_fees=fixed_fee``, ``slippage=s``,
- short positions (``[positions] sides``): ``short_entries``/``short_exits``
  beside ``entries``/``exits`` (timed the same way) and
  ``upon_opposite_entry="ignore"`` (the documented choice, base.py:2457, that
  keeps one position per asset; the default ``"reversereduce"`` reverses it);
  vectorbt mirrors its stops for a short and credits the short sale's proceeds
  itself (``lock_cash=False``, the default);
  ``init_cash=cash``, ``allow_partial=False`` (an entry that does not fit is
  rejected whole, as the contract says, instead of vectorbt's default partial
  fill);
- ``sl_stop=p`` (stop-loss) or ``sl_stop=p, sl_trail=True`` (trailing stop on
  the highs), ``tp_stop=q``; ``stop_entry_price="close"`` or ``"fillprice"``
  (``stop_reference``); ``stop_exit_price="stopmarket"`` (the documented choice
  that applies the slippage to stop fills; the default ``"stoplimit"`` fills
  them unslipped).

A time exit (``max_bars``) is the one thing vectorbt 1.2.0 has no argument
for (no time stop): the user's ``signal_func_nb`` returns the entries/exits as
given plus an exit once the position is N bars old, counted from the bar it
first sees the position (the bar after the entry fill); vectorbt still checks
its own stops first and does not ask the function on a bar where one was hit.

Nothing computes a stop level, a priority or a price: vectorbt's fills,
rejections and portfolio value are read back as they are. Where stock vectorbt
departs from the contract the departure is a behaviour knob of
:data:`adapters._vectorbt_profile.PROFILE`; what it cannot express is
unsupported (:func:`check`): a stop-loss together with a trailing stop
(vectorbt has one SL slot), a trailing stop on the closes (vectorbt's hwm is
the highs), stops with ``next_close`` fills (vectorbt would check the stops on
the bar the shifted exit fills), several assets with signals.

Rotations (:func:`run_rotation`): ``vbt.Portfolio.from_orders(close,
size=w, size_type="targetpercent", group_by=True, cash_sharing=True,
call_seq="auto", fees=f, slippage=s, init_cash=cash, allow_partial=False)``,
``w`` NaN off the rebalance bars; ``close`` fills and fractional units only
(:func:`check_rotation` says why not the others). vectorbt's fills are read
back as they are; a refused buy is reported with the size vectorbt asked for,
recomputed from its logged state with its own arithmetic.

Exit reasons: vectorbt 1.2.0's records do not say whether a sell was a stop.
With a time exit, the callback records what it returned on each bar. Without
one, the same simulation is run a second time with vectorbt's own
``dir_enex_signal_func_nb`` as ``signal_func_nb``, wrapped only to record the
bars where vectorbt asked it for a signal (it is not asked on a bar where a
stop was hit, nb.py:2676-2705); its order and log records must equal the
plain run's, field for field. An exit vectorbt did not ask the signal function
about is a stop: ``take_profit`` when its stop price is at or beyond the
take-profit level (above a long's, below a short's), else the SL slot's kind
(``stop_loss`` or ``trailing_stop``). A cover vectorbt refuses for lack of cash
(``buy_nb`` checks its cost, nb.py:152) is unsupported (``[positions] sides``:
the contract's cover always fills).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import vectorbt as vbt
from numba import njit
from vectorbt.portfolio.enums import Direction, OrderSide, OrderStatus, OrderStatusInfo
from vectorbt.portfolio.nb import dir_enex_signal_func_nb, ls_enex_signal_func_nb

from adapters._vectorbt_common import requested_units
from adapters._vectorbt_shorts import short_signals
from harness.contract import Contract, knob_key
from harness.engines import Output, Unsupported, make_fill, make_rejection
from harness.scenario import Scenario

__all__ = ["check", "run_signals", "simulate"]

# vectorbt's log statuses for an entry refused for lack of cash (allow_partial=False turns a
# would-be partial fill into PartialFill), portfolio/nb.py:121, 164, 188 (buy_nb)
_CASH_REJECTIONS = frozenset({OrderStatusInfo.PartialFill, OrderStatusInfo.NoCashLong,
                              OrderStatusInfo.CantCoverFees})


def check(scenario: Scenario, contract: Contract) -> None:
    """Refuse (Unsupported, naming the knob) what stock from_signals cannot express."""
    if contract.stop_loss is not None and contract.trailing_stop is not None:
        raise Unsupported(knob_key("trailing_stop"), "stock vectorbt has one stop-loss slot (sl_stop, made trailing "
                                                     "by sl_trail): a stop-loss and a trailing stop together need an "
                                                     "adjust_sl_func_nb that computes the level")
    if contract.units == "whole" and contract.sizing_mode != "percent_of_equity":
        raise Unsupported(knob_key("units"), "whole units of a value-sized entry: size_granularity floors the size "
                                             "and allow_partial=False then refuses it as a partial fill (nb.py:187)")
    if contract.sizing_mode == "percent_of_equity" and contract.sides != "long":
        raise Unsupported(knob_key("sides"), "size_type='percent' sizes a short sale from the free cash plus the "
                                             "long position (sell_nb, nb.py:239-256), which no knob describes")
    if contract.sizing_mode != "fixed" and contract.fill == "next_close":
        raise Unsupported(knob_key("fill"), "next_close with sized entries: one-asset fixed-size signals only "
                                            "(as in contract mode)")
    if contract.has_stops and contract.fill == "next_close":
        raise Unsupported(knob_key("fill"), "next_close with stops: vectorbt checks a position's stops on the bar "
                                            "its shifted exit fills at the close, before it")
    market = scenario.market
    for name in ("open", "high", "low", "close"):
        if not np.all(np.isfinite(getattr(market, name))):
            raise Unsupported("prices.csv", f"non-finite {name} prices (bars where an asset is not listed)")
    if contract.has_stops:
        # vectorbt fills an intrabar stop only if low <= level <= high (nb.py:1879, 1886); on a bar with
        # low <= min(open, close) and max(open, close) <= high that is the contract's touch rule
        o, h, l, c = market.open, market.high, market.low, market.close
        bad = (h < np.maximum(o, c)) | (l > np.minimum(o, c))
        if np.any(bad):
            bar, col = np.argwhere(bad)[0]
            raise Unsupported("prices.csv", f"bar {market.timestamps[bar]} of {market.assets[col]} has high/low "
                                            "outside open/close")
    if np.any(market.entries & market.exits):
        raise Unsupported("signals.csv", "an entry and an exit on the same bar")


def _signals(contract: Contract, market) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """((entries, exits, short entries, short exits), price): as given at the close, or shifted one bar
    (next_open at the open, next_close)."""
    signals = tuple(np.asarray(a, dtype=np.bool_) for a in (market.entries, market.exits, *short_signals(market)))
    close = np.asarray(market.close, dtype=np.float64)
    if contract.fill == "close":
        return tuple(a.copy() for a in signals), close.copy()
    shifted = []
    for a in signals:
        b = np.zeros_like(a)
        b[1:] = a[:-1]
        shifted.append(b)
    price = np.asarray(market.open if contract.fill == "next_open" else market.close, dtype=np.float64)
    return tuple(shifted), price.copy()


def _arguments(contract: Contract) -> dict:
    """from_signals keyword arguments a user writes for this contract (documented ones only)."""
    if contract.sizing_mode == "target_value":
        # value / val_price units (nb.py:443); val_price=-np.inf is the previous close (nb.py:2062-2068, 2581-2587),
        # the deciding bar's close of a signal shifted to the next open
        sizing = dict(size=float(contract.value), size_type="value",
                      val_price=np.inf if contract.fill == "close" else -np.inf)
    elif contract.sizing_mode == "percent_of_equity":
        # a percent of the cash at the fill, fees included: size=inf, cash_limit = percent * cash, then
        # (cash_limit - fixed_fees) / (1 + fees) / adj_price units (nb.py:115-117, 160-177)
        sizing = dict(size=float(contract.fraction), size_type="percent")
        if contract.units == "whole":
            sizing["size_granularity"] = 1.0  # floored (nb.py:168-170)
    else:
        sizing = dict(size=float(contract.size), size_type="amount")
    kwargs: dict = dict(**sizing, fees=float(contract.fee), fixed_fees=float(contract.fixed_fee),
                        slippage=float(contract.slippage), init_cash=float(contract.cash), allow_partial=False)
    if contract.stop_loss is not None:
        kwargs["sl_stop"] = float(contract.stop_loss)
    if contract.trailing_stop is not None:
        kwargs["sl_stop"] = float(contract.trailing_stop)
        kwargs["sl_trail"] = True
    if contract.take_profit is not None:
        kwargs["tp_stop"] = float(contract.take_profit)
    if contract.has_stops:
        kwargs["stop_entry_price"] = "fillprice" if contract.stop_reference == "fill_price" else "close"
        kwargs["stop_exit_price"] = "stopmarket"
    if contract.sides != "long":
        kwargs["upon_opposite_entry"] = "ignore"  # one position per asset
    return kwargs


@njit
def _asked_signal_func_nb(c, entries, exits, direction, asked):
    """vectorbt's own dir_enex_signal_func_nb; records that vectorbt asked it on this bar."""
    asked[c.i, c.col] = True
    return dir_enex_signal_func_nb(c, entries, exits, direction)


@njit
def _asked_ls_signal_func_nb(c, entries, exits, short_entries, short_exits, asked):
    """vectorbt's own ls_enex_signal_func_nb (signal arrays with short ones); records that it was asked."""
    asked[c.i, c.col] = True
    return ls_enex_signal_func_nb(c, entries, exits, short_entries, short_exits)


# what _time_exit_signal_func_nb returned on a bar (vectorbt does not ask it on a bar where a stop was hit)
_NOT_ASKED, _NO_EXIT, _SIGNAL_EXIT, _TIME_EXIT = -1, 0, 1, 2


@njit
def _time_exit_signal_func_nb(c, entries, exits, short_entries, short_exits, max_bars, entry_bar, said):
    """The user's time exit: the entries/exits as given, plus an exit once the position is max_bars bars old.

    vectorbt 1.2.0 has no time stop; the position's age is counted from the bar this function first sees it
    (the bar after the entry fill: vectorbt asks it on every bar where no stop was hit). A short position's
    exits are the short exits.
    """
    i, col = c.i, c.col
    if c.position_now != 0:
        short = c.position_now < 0
        if entry_bar[col] < 0:
            entry_bar[col] = i - 1
        if short_exits[i, col] if short else exits[i, col]:
            said[i, col] = _SIGNAL_EXIT
            return False, not short, False, short
        if i - entry_bar[col] >= max_bars:
            said[i, col] = _TIME_EXIT
            return False, not short, False, short
        said[i, col] = _NO_EXIT
        return False, False, False, False
    entry_bar[col] = -1
    said[i, col] = _NO_EXIT
    return entries[i, col], exits[i, col], short_entries[i, col], short_exits[i, col]


def simulate(scenario: Scenario, contract: Contract, observe: bool = False):
    """The stock from_signals run (``observe``: the same run through the recording signal function)."""
    market = scenario.market
    signals, price = _signals(contract, market)
    entries, exits, short_entries, short_exits = signals
    index = pd.RangeIndex(market.n_bars)
    close = pd.DataFrame(np.asarray(market.close, dtype=np.float64), index=index, columns=list(market.assets))
    kwargs = _arguments(contract)
    ohlc = dict(open=np.asarray(market.open, dtype=np.float64), high=np.asarray(market.high, dtype=np.float64),
                low=np.asarray(market.low, dtype=np.float64))
    if contract.max_bars is not None:
        # the stock run is the time-exit callback's run; ``said`` records what it returned on each bar
        said = np.full(entries.shape, _NOT_ASKED, dtype=np.int8)
        entry_bar = np.full(entries.shape[1], -1, dtype=np.int64)
        pf = vbt.Portfolio.from_signals(
            close, signal_func_nb=_time_exit_signal_func_nb,
            signal_args=(entries, exits, short_entries, short_exits, int(contract.max_bars), entry_bar, said),
            price=price, **ohlc, **kwargs, log=True, freq="1D")
        return (pf, said) if observe else pf
    long_only = contract.sides == "long"
    if not observe:
        shorts = {} if long_only else dict(short_entries=short_entries, short_exits=short_exits)
        return vbt.Portfolio.from_signals(close, entries, exits, **shorts, price=price, **ohlc, **kwargs, log=True,
                                          freq="1D")
    # the function vectorbt itself uses for these arrays (base.py:2745-2749), recording where it was asked
    asked = np.zeros(entries.shape, dtype=np.bool_)
    if long_only:
        recording = dict(signal_func_nb=_asked_signal_func_nb,
                         signal_args=(entries, exits, np.asarray(Direction.LongOnly), asked))
    else:
        recording = dict(signal_func_nb=_asked_ls_signal_func_nb,
                         signal_args=(entries, exits, short_entries, short_exits, asked))
    pf = vbt.Portfolio.from_signals(close, **recording, price=price, **ohlc, **kwargs, log=True, freq="1D")
    return pf, asked


def _same_records(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    for name in a.dtype.names:
        x, y = a[name], b[name]
        if not np.array_equal(x, y, equal_nan=np.issubdtype(x.dtype, np.floating)):
            return False
    return True


def _reasons(scenario: Scenario, contract: Contract, pf) -> list[str]:
    records = pf.order_records
    if not contract.has_exit_rules:
        return ["signal"] * len(records)
    observed, asked = simulate(scenario, contract, observe=True)
    if not (_same_records(observed.order_records, records) and _same_records(observed.log_records, pf.log_records)):
        raise RuntimeError(f"{scenario.name}: the recording run's records differ from the stock run's")
    said = None
    if contract.max_bars is not None:
        said, asked = asked, asked != _NOT_ASKED
    req_price = {int(log["order_id"]): float(log["req_price"]) for log in pf.log_records if log["order_id"] >= 0}
    held = {int(log["order_id"]): float(log["position"]) for log in pf.log_records if log["order_id"] >= 0}
    close = np.asarray(scenario.market.close, dtype=np.float64)
    sl_kind = "trailing_stop" if contract.trailing_stop is not None else "stop_loss"
    reasons: list[str] = []
    entry_ref = {}
    for rec in records:
        bar, col = int(rec["idx"]), int(rec["col"])
        position = held[int(rec["id"])]  # before the order: flat for an entry, long or short for an exit
        if position == 0.0:
            entry_ref[col] = float(rec["price"]) if contract.stop_reference == "fill_price" else float(close[bar, col])
            reasons.append("signal")
        elif asked[bar, col]:
            reasons.append("time_exit" if said is not None and said[bar, col] == _TIME_EXIT else "signal")
        elif contract.take_profit is None:
            reasons.append(sl_kind)
        elif contract.stop_loss is None and contract.trailing_stop is None:
            reasons.append("take_profit")
        elif position < 0.0:
            # a short's take-profit level (nb.py:1876, init * (1 - q)), below its stop: a stop price at or below it
            tp_level = entry_ref[col] * (1 - float(contract.take_profit))
            reasons.append("take_profit" if req_price[int(rec["id"])] <= tp_level else sl_kind)
        else:
            # vectorbt's take-profit level (nb.py:1883); a stop price at or above it is the take-profit's
            tp_level = entry_ref[col] * (1 + float(contract.take_profit))
            reasons.append("take_profit" if req_price[int(rec["id"])] >= tp_level else sl_kind)
    return reasons


def run_signals(scenario: Scenario, contract: Contract) -> Output:
    pf = simulate(scenario, contract)
    fills = []
    for rec, reason in zip(pf.order_records, _reasons(scenario, contract, pf), strict=True):
        side = "buy" if int(rec["side"]) == OrderSide.Buy else "sell"
        fills.append(make_fill(scenario, asset_index=int(rec["col"]), bar=int(rec["idx"]), side=side,
                               size=float(rec["size"]), price=float(rec["price"]), fee=float(rec["fees"]),
                               reason=reason))
    rejections = []
    for log in pf.log_records:
        status, info = int(log["res_status"]), int(log["res_status_info"])
        entry = log["position"] == 0.0  # the position before the order
        if status == OrderStatus.Filled:
            if entry and log["res_side"] == OrderSide.Buy \
                    and log["res_size"] * log["res_price"] + log["res_fees"] > log["cash"]:
                # vectorbt's cash check is is_close_or_less_nb (1e-9 relative, nb.py:152), no knob value says that
                raise Unsupported(knob_key("cash_slack"), f"bar {int(log['idx'])}: vectorbt filled a buy costing more "
                                                          f"than the cash {float(log['cash'])!r}, within its 1e-9 "
                                                          "relative tolerance")
            continue
        if status == OrderStatus.Rejected and log["position"] < 0.0 and info in _CASH_REJECTIONS:
            # buy_nb checks a cover's cost against the cash (nb.py:152); the contract's cover always fills
            raise Unsupported(knob_key("sides"), f"bar {int(log['idx'])}: vectorbt refused to cover a short costing "
                                                 f"more than the cash {float(log['cash'])!r}; no knob says that")
        if status == OrderStatus.Rejected and entry and log["req_size"] > 0 and info in _CASH_REJECTIONS:
            rejections.append(make_rejection(scenario, asset_index=int(log["col"]), bar=int(log["idx"]), side="buy",
                                             size=requested_units(log), reason="signal"))
            continue
        raise RuntimeError(f"{scenario.name}: bar {int(log['idx'])}: vectorbt did not fill an order of size "
                           f"{float(log['req_size'])!r} (status {status}, info {info})")
    value = np.asarray(pf.value().to_numpy(), dtype=np.float64)
    if value.ndim == 2:
        value = value[:, 0]
    return Output(fills=fills, rejections=rejections, equity=value, final_value=float(value[-1]))


# --------------------------------------------------------------------------------------------- rotation


def check_rotation(scenario: Scenario, contract: Contract) -> None:
    """Rotations stock from_orders expresses: close fills, fractional units, every price listed."""
    if contract.fixed_fee:
        raise Unsupported(knob_key("fixed_fee"), "rotations: from_orders with fixed_fees is not taught "
                                                 "(signal scenarios only)")
    if contract.fill != "close":
        raise Unsupported(knob_key("fill"), f"{contract.fill} rotation: from_orders values the portfolio and sizes "
                                            "target percents at the order price (val_price=np.inf, the default), "
                                            "the fill bar's price, not the deciding bar's close")
    if contract.units != "fractional":
        raise Unsupported(knob_key("units"), "whole units: size_granularity=1 cuts a buy that does not fit short "
                                             "(allow_partial=True) or refuses every order that is not already whole "
                                             "(allow_partial=False, buy_nb/sell_nb compare the floored size with "
                                             "the request)")
    market = scenario.market
    for name in ("open", "high", "low", "close"):
        if not np.all(np.isfinite(getattr(market, name))):
            raise Unsupported("prices.csv", f"non-finite {name} prices (bars where an asset is not listed)")


def simulate_rotation(scenario: Scenario, contract: Contract):
    """The stock from_orders run: target percents on rebalance bars, one cash pool, sells first."""
    market = scenario.market
    weights = np.array(market.weights, dtype=np.float64, copy=True)
    weights[~np.asarray(market.rebalance)] = np.nan
    close = pd.DataFrame(np.asarray(market.close, dtype=np.float64), index=pd.RangeIndex(market.n_bars),
                         columns=list(market.assets))
    return vbt.Portfolio.from_orders(close, size=weights, size_type="targetpercent", group_by=True,
                                     cash_sharing=True, call_seq="auto", fees=float(contract.fee),
                                     slippage=float(contract.slippage), init_cash=float(contract.cash),
                                     allow_partial=False, log=True, freq="1D")


def run_rotation(scenario: Scenario, contract: Contract) -> Output:
    from adapters._vectorbt_rotation import _order_units  # vectorbt's own size arithmetic, for refused orders

    pf = simulate_rotation(scenario, contract)
    fills = [make_fill(scenario, asset_index=int(rec["col"]), bar=int(rec["idx"]),
                       side="buy" if int(rec["side"]) == OrderSide.Buy else "sell", size=float(rec["size"]),
                       price=float(rec["price"]), fee=float(rec["fees"]), reason="rebalance")
             for rec in pf.order_records]
    rejections = []
    for log in pf.log_records:
        status, info = int(log["res_status"]), int(log["res_status_info"])
        where = f"{scenario.name}: bar {int(log['idx'])}, asset {scenario.market.assets[int(log['col'])]}"
        if status == OrderStatus.Filled:
            if log["res_side"] == OrderSide.Buy and log["res_size"] * log["res_price"] + log["res_fees"] > log["cash"]:
                raise Unsupported(knob_key("cash_slack"), f"{where}: vectorbt filled a buy costing more than the cash "
                                                          f"{float(log['cash'])!r}, within its 1e-9 relative tolerance")
            continue
        if status == OrderStatus.Ignored and info in (OrderStatusInfo.SizeNaN, OrderStatusInfo.SizeZero):
            continue  # no weight on this bar, or nothing to trade
        if status == OrderStatus.Rejected and info == OrderStatusInfo.MinSizeNotReached:
            raise Unsupported(knob_key("min_order_value"), f"{where}: vectorbt refused an order below its min_size "
                                                           "(1e-8 units by default)")
        if status == OrderStatus.Rejected and info in _CASH_REJECTIONS:
            units = _order_units(np.array([log["req_size"]]), np.array([log["value"]]), np.array([log["val_price"]]),
                                 np.array([log["position"]]), whole=False, vectorbt=True)
            if not units[0] > 0:
                raise RuntimeError(f"{where}: a cash rejection of a sell")
            rejections.append(make_rejection(scenario, asset_index=int(log["col"]), bar=int(log["idx"]), side="buy",
                                             size=float(units[0]), reason="rebalance"))
            continue
        raise RuntimeError(f"{where}: vectorbt did not fill an order (status {status}, info {info})")
    value = np.asarray(pf.value(), dtype=np.float64).reshape(-1)
    return Output(fills=fills, rejections=rejections, equity=value, final_value=float(value[-1]))
