"""The reference engine's numba kernel: plain arrays in, fill records and equity out.

The kernel holds no Python objects. Per bar it runs the contract's phases in
time order, each across every asset before the next begins
(``harness.contract.EXIT_PRECEDENCE`` states them):

1. ``next_open`` mode: orders decided on the previous bar fill at this open;
2. stops (stop-loss, take-profit, trailing) checked against this bar's range
   (or, ``stop_trigger = "close"``, its close);
3. ``next_close`` mode: orders decided on the previous bar fill at this close;
   then exits at this close (``close``), or decided for the next open
   (``next_open``) or close (``next_close``);
4. entries at this close, or decided for the next open or close.

Behaviour knobs (``harness.contract``; each default is the contract) change
how those steps resolve fills, so that a framework's stock profile can be
run: they arrive as keyword flags of :func:`simulate_signals` and
:func:`simulate_rotation`.

Integer codes for sides and reasons come from ``harness.contract`` (passed in
by ``engine.reference``, which owns the translation).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Mirrors harness.contract.SIDE_CODE / REASON_CODE; engine.reference asserts they agree.
BUY = 1
SELL = -1
REASON_SIGNAL = 0
REASON_STOP_LOSS = 1
REASON_TAKE_PROFIT = 2
REASON_TRAILING_STOP = 3
REASON_TIME_EXIT = 4
REASON_REBALANCE = 5
NO_REASON = -1

NO_ORDER = 0
ORDER_ENTRY = 1
ORDER_EXIT = -1

# simulate_signals' sizing: [sizing] mode fixed, percent_of_equity, target_value.
SIZING_FIXED = 0
SIZING_PERCENT_OF_EQUITY = 1
SIZING_TARGET_VALUE = 2

# Fill record columns (float64 matrix): asset, bar, side, size, price, fee, reason.
F_ASSET, F_BAR, F_SIDE, F_SIZE, F_PRICE, F_FEE, F_REASON = range(7)
N_FILL_FIELDS = 7
# Rejection record columns: asset, bar (where it would have filled), side, size, reason.
R_ASSET, R_BAR, R_SIDE, R_SIZE, R_REASON = range(5)
N_REJECTION_FIELDS = 5


@njit(cache=True)
def _record(fills: np.ndarray, n_fills: int, asset: int, bar: int, side: int, size: float,
            price: float, fee: float, reason: int) -> int:
    if n_fills >= fills.shape[0]:  # the buffers are sized by a proven bound: reaching it is a kernel bug
        raise IndexError("kernel fill buffer overflow: more fills than the bound it was sized by")
    fills[n_fills, F_ASSET] = asset
    fills[n_fills, F_BAR] = bar
    fills[n_fills, F_SIDE] = side
    fills[n_fills, F_SIZE] = size
    fills[n_fills, F_PRICE] = price
    fills[n_fills, F_FEE] = fee
    fills[n_fills, F_REASON] = reason
    return n_fills + 1


@njit(cache=True)
def _reject(rejections, n_rejected, asset, bar, side, size, reason):
    if n_rejected >= rejections.shape[0]:
        raise IndexError("kernel rejection buffer overflow: more rejections than the bound it was sized by")
    rejections[n_rejected, R_ASSET] = asset
    rejections[n_rejected, R_BAR] = bar
    rejections[n_rejected, R_SIDE] = side
    rejections[n_rejected, R_SIZE] = size
    rejections[n_rejected, R_REASON] = reason
    return n_rejected + 1


@njit(cache=True)
def cap_buy(price: float, slip, high: float, cap: bool, ledger: bool = False) -> float:
    """A market buy at ``price``, ``slip`` = (s, a): slipped up to p * (1 + s) + a (``ledger``: (p + p * s)
    + a), and (``slippage_cap = "bar"``, s > 0 or a > 0) at most ``high``."""
    s, a = slip
    p = price + price * s if ledger else price * (1.0 + s)
    if a != 0.0:
        p = p + a
    if cap and (s > 0.0 or a > 0.0) and p > high:
        return high
    return p


@njit(cache=True)
def cap_sell(price: float, slip, low: float, cap: bool, ledger: bool = False) -> float:
    """A sell at ``price``, ``slip`` = (s, a): slipped down to p * (1 - s) - a (``ledger``: (p - p * s)
    - a), and (``slippage_cap = "bar"``, s > 0 or a > 0) at least ``low``."""
    s, a = slip
    p = price - price * s if ledger else price * (1.0 - s)
    if a != 0.0:
        p = p - a
    if cap and (s > 0.0 or a > 0.0) and p < low:
        return low
    return p


@njit(cache=True)
def fee_of(fees, size: float, price: float, ledger: bool) -> float:
    """The fee of a fill, ``fees`` = (f, fixed_fee, per_share, min_fee): f * size * price (``ledger``:
    size * price * f), then + max(per_share * size, min_fee), then + fixed_fee."""
    f, fixed_fee, per_share, min_fee = fees
    fee = size * price * f if ledger else f * size * price
    if per_share != 0.0 or min_fee != 0.0:
        fee = fee + max(per_share * size, min_fee)
    if fixed_fee != 0.0:
        fee = fee + fixed_fee
    return fee


@njit(cache=True)
def fits(size: float, price: float, fees, cash: float, cash_slack: float, ledger: bool) -> bool:
    """Whether a buy of ``size`` at ``price`` fits in ``cash`` (``cash_slack``: see ``harness.contract``)."""
    fee = fee_of(fees, size, price, ledger)
    if cash_slack == 0.0:
        return not size * price + fee > cash
    return not size * price > (cash - fee) + cash_slack


@njit(cache=True)
def check_fee(fees, size: float, close: float) -> float:
    """``submit_check``'s fee of an order of ``size`` (unsigned) at ``close``: size * f * close, then
    + max(per_share * size, min_fee) + fixed_fee."""
    f, fixed_fee, per_share, min_fee = fees
    fee = size * f * close
    if per_share != 0.0 or min_fee != 0.0 or fixed_fee != 0.0:
        fee = fee + (max(per_share * size, min_fee) + fixed_fee)
    return fee


@njit(cache=True)
def _sell(fills, n_fills, cash, position, asset, bar, price, qty, fees, reason, ledger=False):
    """Sell ``qty`` units of ``asset`` at ``price`` (the fill price, after slippage)."""
    fee = fee_of(fees, qty, price, ledger)
    position[asset] -= qty
    n_fills = _record(fills, n_fills, asset, bar, SELL, qty, price, fee, reason)
    if ledger:
        return cash + (qty * price - fee), n_fills
    return cash + qty * price - fee, n_fills


@njit(cache=True)
def _sell_all(fills, n_fills, cash, position, asset, bar, price, fees, reason, ledger=False):
    """Close the whole position of ``asset`` at ``price`` (the fill price, after slippage)."""
    cash, n_fills = _sell(fills, n_fills, cash, position, asset, bar, price, position[asset], fees, reason,
                          ledger)
    position[asset] = 0.0  # exactly flat, whatever the float arithmetic
    return cash, n_fills


@njit(cache=True)
def _buy(fills, n_fills, cash, position, asset, bar, price, size, fees, reason, cash_slack=0.0, ledger=False):
    """Buy ``size`` units at ``price`` (after slippage) if it :func:`fits` in the cash; else reject it whole.

    Returns ``(cash, n_fills, filled)``.
    """
    if not fits(size, price, fees, cash, cash_slack, ledger):
        return cash, n_fills, False
    fee = fee_of(fees, size, price, ledger)
    cost = size * price + fee
    position[asset] += size
    n_fills = _record(fills, n_fills, asset, bar, BUY, size, price, fee, reason)
    return cash - cost, n_fills, True


@njit(cache=True)
def _cover(fills, n_fills, cash, position, asset, bar, price, fees, reason, ledger=False):
    """Buy back the whole short position of ``asset`` at ``price`` (after slippage); a cover always fills."""
    qty = -position[asset]
    fee = fee_of(fees, qty, price, ledger)
    position[asset] = 0.0
    n_fills = _record(fills, n_fills, asset, bar, BUY, qty, price, fee, reason)
    return cash - (qty * price + fee), n_fills


@njit(cache=True)
def _close_all(fills, n_fills, cash, position, asset, bar, price, fees, reason, ledger=False):
    """Close the position of ``asset``, long (a sell) or short (a buy), at ``price`` (after slippage)."""
    if position[asset] < 0.0:
        return _cover(fills, n_fills, cash, position, asset, bar, price, fees, reason, ledger)
    return _sell_all(fills, n_fills, cash, position, asset, bar, price, fees, reason, ledger)


@njit(cache=True)
def _short(fills, n_fills, cash, position, asset, bar, price, size, fees, reason, cash_slack=0.0, ledger=False):
    """Sell ``size`` units short at ``price`` (after slippage): the proceeds minus the fee are credited; the
    sale is rejected whole when cash + proceeds - fee < 0 (``cash_slack`` widens that as for a buy).

    Returns ``(cash, n_fills, filled)``.
    """
    fee = fee_of(fees, size, price, ledger)
    proceeds = size * price
    if (cash + proceeds) - fee + cash_slack < 0.0:
        return cash, n_fills, False
    position[asset] -= size
    n_fills = _record(fills, n_fills, asset, bar, SELL, size, price, fee, reason)
    if ledger:
        return cash + (proceeds - fee), n_fills, True
    return cash + proceeds - fee, n_fills, True


@njit(cache=True)
def stop_exit_short(open_: float, high: float, low: float, sl_level: float, tp_level: float, trail_level: float,
                    queue: bool, gaps_first: bool):
    """:func:`stop_exit` mirrored for a short position (stop levels above, off: +inf; the take-profit below,
    off: -inf; one stop is the lower level): the long rules on negated prices, which negation keeps exact."""
    price, reason, at_open = stop_exit(-open_, -low, -high, -sl_level, -tp_level, -trail_level, queue, gaps_first)
    return -price, reason, at_open


@njit(cache=True)
def stop_on_close_short(close_: float, sl_level: float, tp_level: float, trail_level: float, queue: bool):
    """:func:`stop_on_close` mirrored for a short position, as :func:`stop_exit_short`."""
    price, reason = stop_on_close(-close_, -sl_level, -tp_level, -trail_level, queue)
    return -price, reason


@njit(cache=True)
def stop_exit(open_: float, high: float, low: float, sl_level: float, tp_level: float, trail_level: float,
              queue: bool, gaps_first: bool):
    """Which stop fills on this bar, and at what price before slippage.

    Levels that are off are passed as -inf (stop-loss, trailing) or +inf
    (take-profit). Check order: the stop(s), then the take-profit. With
    ``queue`` the stop-loss and trailing levels are two stops (stop-loss
    first), else one stop at the higher level. ``gaps_first``: every level's
    gap (open) before any level's intrabar touch; else each level completely
    (gap, then intrabar) in check order. Returns ``(price, reason, at_open)``
    or ``(nan, NO_REASON, False)``.
    """
    if queue:
        l1, r1, l2, r2 = sl_level, REASON_STOP_LOSS, trail_level, REASON_TRAILING_STOP
    elif trail_level > sl_level:
        l1, r1, l2, r2 = trail_level, REASON_TRAILING_STOP, -np.inf, NO_REASON
    else:
        l1, r1, l2, r2 = sl_level, REASON_STOP_LOSS, -np.inf, NO_REASON
    if gaps_first:
        if open_ <= l1:
            return open_, r1, True
        if open_ <= l2:
            return open_, r2, True
        if open_ >= tp_level:
            return open_, REASON_TAKE_PROFIT, True
        if low <= l1:
            return l1, r1, False
        if low <= l2:
            return l2, r2, False
        if high >= tp_level:
            return tp_level, REASON_TAKE_PROFIT, False
    else:
        if open_ <= l1:
            return open_, r1, True
        if low <= l1:
            return l1, r1, False
        if open_ <= l2:
            return open_, r2, True
        if low <= l2:
            return l2, r2, False
        if open_ >= tp_level:
            return open_, REASON_TAKE_PROFIT, True
        if high >= tp_level:
            return tp_level, REASON_TAKE_PROFIT, False
    return np.nan, NO_REASON, False


@njit(cache=True)
def stop_on_close(close_: float, sl_level: float, tp_level: float, trail_level: float, queue: bool):
    """``stop_trigger = "close"``: which stop this close hits, at the close. Same levels, check order and
    labels as :func:`stop_exit`; returns ``(price, reason)`` or ``(nan, NO_REASON)``."""
    if queue:
        l1, r1, l2, r2 = sl_level, REASON_STOP_LOSS, trail_level, REASON_TRAILING_STOP
    elif trail_level > sl_level:
        l1, r1, l2, r2 = trail_level, REASON_TRAILING_STOP, -np.inf, NO_REASON
    else:
        l1, r1, l2, r2 = sl_level, REASON_STOP_LOSS, -np.inf, NO_REASON
    if close_ <= l1:
        return close_, r1
    if close_ <= l2:
        return close_, r2
    if close_ >= tp_level:
        return close_, REASON_TAKE_PROFIT
    return np.nan, NO_REASON


@njit(cache=True)
def tick_level(level: float, tick: float, up: bool) -> float:
    """``level_tick``: ``level`` moved onto the tick grid (``up``: a take-profit's, else a stop-loss's);
    ``tick`` 0 leaves it as it is."""
    if tick == 0.0:
        return level
    d = (0.95 - 0.5) * tick - 10.0 * 2.220446049250313e-16
    x = (level + d) / tick if up else (level - d) / tick
    whole = np.floor(x)
    if x - whole >= 0.5:
        whole = np.ceil(x)
    rounded = tick * whole
    if abs(rounded) <= 1e-6:
        return 0.0
    return rounded


@njit(cache=True)
def sl_level_of(ref: float, stop_loss: float, tick: float) -> float:
    return tick_level(ref * (1.0 - stop_loss), tick, False)


@njit(cache=True)
def tp_level_of(ref: float, take_profit: float, tick: float) -> float:
    return tick_level(ref * (1.0 + take_profit), tick, True)


@njit(cache=True)
def near_integer(q: float) -> float:
    """``order_rounding = "near_integer"``: round(q) when within 1e-4 of it, else q truncated toward 0."""
    r = np.round(q)
    if abs(q - r) <= 1e-4:
        return r
    return np.trunc(q)


@njit(cache=True)
def stop_fill_price(price: float, reason: int, at_open: bool, bound: float, tp_level: float, slip,
                    slip_take_profit: bool, cap: bool, ledger: bool = False, short: bool = False) -> float:
    """The fill price of a stop exit found by :func:`stop_exit`: a sell capped at ``bound``, the bar's low
    (``short``: :func:`stop_exit_short`'s cover, a buy capped at the bar's high)."""
    if reason == REASON_TAKE_PROFIT:
        if at_open:
            bound = tp_level  # a take-profit gapped at the open: capped at its level, not at the bar's range
        elif not slip_take_profit:
            return price
    if short:
        return cap_buy(price, slip, bound, cap, ledger)
    return cap_sell(price, slip, bound, cap, ledger)


@njit(cache=True)
def trail_level_of(hwm: float, p: float, difference: bool) -> float:
    if difference:
        return hwm - hwm * p
    return hwm * (1.0 - p)


@njit(cache=True)
def trail_level_short(lwm: float, p: float, difference: bool) -> float:
    """A short's trailing level from its low-water mark lwm: lwm * (1 + p) (``difference``: lwm + lwm * p)."""
    if difference:
        return lwm + lwm * p
    return lwm * (1.0 + p)


@njit(cache=True)
def trail_start(ref: float, p: float, difference: bool, short: bool) -> float:
    """The trailing level a position starts with, from its stop reference."""
    if short:
        return trail_level_short(ref, p, difference)
    return trail_level_of(ref, p, difference)


@njit(cache=True)
def trail_step(level: float, src: float, p: float, difference: bool, short: bool) -> float:
    """The trailing level after a bar whose `trail_source` price is ``src``: it only rises (a short's only
    falls)."""
    if short:
        return min(level, trail_level_short(src, p, difference))
    return max(level, trail_level_of(src, p, difference))


@njit(cache=True)
def _position_stop(short, ref, trail_j, open_, high, low, close_, stop_loss, take_profit, use_sl, use_tp,
                   use_trail, slip, queue, gaps_first, slip_take_profit, cap, ledger, on_close, level_tick):
    """The stop exit of a position (long, or ``short``) with stop reference ``ref`` and trailing level
    ``trail_j`` on one bar: ``(fill price, reason)`` or ``(nan, NO_REASON)``."""
    if not short:
        return _stop_fill(open_, high, low,
                          sl_level_of(ref, stop_loss, level_tick) if use_sl else -np.inf,
                          tp_level_of(ref, take_profit, level_tick) if use_tp else np.inf,
                          trail_j if use_trail else -np.inf,
                          slip, queue, gaps_first, slip_take_profit, cap, ledger, close_, on_close)
    return _stop_fill(open_, high, low,
                      tick_level(ref * (1.0 + stop_loss), level_tick, True) if use_sl else np.inf,
                      tick_level(ref * (1.0 - take_profit), level_tick, False) if use_tp else -np.inf,
                      trail_j if use_trail else np.inf,
                      slip, queue, gaps_first, slip_take_profit, cap, ledger, close_, on_close, True)


@njit(cache=True)
def exit_price(price: float, short: bool, slip, high: float, low: float, cap: bool, ledger: bool) -> float:
    """A market exit at ``price``: a long's sell slipped down (capped at ``low``), a short's cover slipped up
    (capped at ``high``)."""
    if short:
        return cap_buy(price, slip, high, cap, ledger)
    return cap_sell(price, slip, low, cap, ledger)


@njit(cache=True)
def _fill_ref(price: float, size: float, size_weighted: bool) -> float:
    """The stop reference from an entry fill (``fill_ref``)."""
    if size_weighted:
        return (size * price) / size
    return price


@njit(cache=True)
def _stop_fill(open_, high, low, sl_level, tp_level, trail_level, slip, queue, gaps_first,
               slip_take_profit, cap, ledger=False, close_=np.nan, on_close=False, short=False):
    """A position's stop exit on one bar: ``(fill price, reason)`` or ``(nan, NO_REASON)``
    (``on_close``: ``stop_trigger = "close"``, at ``close_``; ``short``: the mirrored checks, levels as
    :func:`stop_exit_short` takes them)."""
    at_open = False
    if on_close and short:
        price, reason = stop_on_close_short(close_, sl_level, tp_level, trail_level, queue)
    elif on_close:
        price, reason = stop_on_close(close_, sl_level, tp_level, trail_level, queue)
    elif short:
        price, reason, at_open = stop_exit_short(open_, high, low, sl_level, tp_level, trail_level, queue, gaps_first)
    else:
        price, reason, at_open = stop_exit(open_, high, low, sl_level, tp_level, trail_level, queue, gaps_first)
    if reason == NO_REASON:
        return np.nan, NO_REASON
    bound = high if short else low  # the bar's side a slipped exit is capped at
    return stop_fill_price(price, reason, at_open, bound, tp_level, slip, slip_take_profit, cap, ledger,
                           short), reason


@njit(cache=True)
def entry_size(sizing: int, size: float, value: float, close: float, whole_units: bool,
               near_integer_units: bool) -> float:
    """The units an entry decided at ``close`` buys: ``size`` (``fixed``), size * value / close
    (``percent_of_equity``, ``value`` the equity) or size / close (``target_value``); the last two made
    whole by :func:`near_integer` (``order_rounding``) or, ``whole_units``, floored."""
    if sizing == SIZING_FIXED:
        return size
    if sizing == SIZING_PERCENT_OF_EQUITY:
        q = size * value / close
    else:
        q = size / close
    return whole_size(q, whole_units, near_integer_units)


@njit(cache=True)
def whole_size(q: float, whole_units: bool, near_integer_units: bool) -> float:
    """A sized entry's units ``q`` made whole by :func:`near_integer` (``order_rounding``) or, ``whole_units``,
    floored."""
    if near_integer_units:
        return near_integer(q)
    if whole_units:
        return np.floor(q)
    return q


@njit(cache=True)
def fill_units(fraction: float, cash: float, fees, price: float, whole_units: bool) -> float:
    """``percent_base = "cash_at_fill"``: the units an entry gets at its fill, ((p * cash - fixed_fee) /
    (1 + f)) / price, the cash as it stands at the fill (``whole_units``: floored)."""
    q = (fraction * cash - fees[1]) / (1.0 + fees[0]) / price
    if whole_units:
        return np.floor(q)
    return q


@njit(cache=True)
def _enter(fills, n_fills, cash, position, j, bar, short, price, high, low, q, fees, slip, cap, cash_slack, ledger,
           at_fill, whole_units):
    """An entry of ``q`` units (``at_fill``: q is the fraction :func:`fill_units` sizes it by) at ``price``
    before slippage: a buy capped at ``high`` or (``short``) a short sale capped at ``low``.
    Returns ``(cash, n_fills, filled, units)``."""
    if short:
        fill_price = cap_sell(price, slip, low, cap, ledger)
    else:
        fill_price = cap_buy(price, slip, high, cap, ledger)
    if at_fill:
        q = fill_units(q, cash, fees, fill_price, whole_units)
        if not q > 0.0:
            return cash, n_fills, False, q
    if short:
        cash, n_fills, filled = _short(fills, n_fills, cash, position, j, bar, fill_price, q, fees, REASON_SIGNAL,
                                       cash_slack, ledger)
    else:
        cash, n_fills, filled = _buy(fills, n_fills, cash, position, j, bar, fill_price, q, fees, REASON_SIGNAL,
                                     cash_slack, ledger)
    return cash, n_fills, filled, q


@njit(cache=True)
def _open_entries(fills, n_fills, rejections, n_rejected, cash, position, pending, entry_bar, signal_bar,
                  first_stop_bar, stop_ref, trail, i, open_, high, low, close, sizes, pending_short, fees, slip, cap,
                  stop_ref_is_fill_price, ref_size_weighted, trailing_stop, trail_difference, delay, cash_slack,
                  ledger, at_fill, whole_units):
    """Step 1's entries (``next_open``): the entries decided on bar i-1 fill at open[i], in asset order
    (``next_close``, step 3: called with ``open_`` = close, at close[i]); ``sizes[j]``: the size decided
    with asset j's entry (``at_fill``: its fraction), ``pending_short[j]``: whether it sells short."""
    for j in range(position.shape[0]):
        if pending[j] == ORDER_ENTRY:
            pending[j] = NO_ORDER
            if position[j] == 0.0:
                short = pending_short[j]
                cash, n_fills, filled, size = _enter(fills, n_fills, cash, position, j, i, short, open_[i, j],
                                                     high[i, j], low[i, j], sizes[j], fees, slip, cap, cash_slack,
                                                     ledger, at_fill, whole_units)
                if filled:
                    entry_bar[j] = i
                    signal_bar[j] = i - 1
                    first_stop_bar[j] = i + 1 + delay
                    stop_ref[j] = (_fill_ref(fills[n_fills - 1, F_PRICE], size, ref_size_weighted)
                                   if stop_ref_is_fill_price else close[i, j])
                    trail[j] = trail_start(stop_ref[j], trailing_stop, trail_difference, short)
                elif size > 0.0:
                    n_rejected = _reject(rejections, n_rejected, j, i, SELL if short else BUY, size, REASON_SIGNAL)
    return cash, n_fills, n_rejected


@njit(cache=True)
def _rule_exits(fills, n_fills, cash, position, entry_bar, first_stop_bar, stop_ref, trail, exited, rule_hit, i,
                open_, high, low, close, fees, slip, stop_loss, take_profit, trailing_stop, trail_on_high,
                use_sl, use_tp, use_trail, use_stops, time_rule_bars, queue, gaps_first, trail_difference,
                slip_take_profit, cap, ledger, pending, on_close, level_tick):
    """Step 2 for every asset, from its first stop bar, unless its exit is decided (``pending``): its
    stops, then (``time_rule_bars`` > 0, ``time_exit_first = false``) a time exit due at this open; else
    the trailing level moves (a long's hwm rises, a short's lwm falls)."""
    for j in range(position.shape[0]):
        if position[j] != 0.0 and i >= first_stop_bar[j] and pending[j] != ORDER_EXIT:
            short = position[j] < 0.0
            price, reason = np.nan, NO_REASON
            if use_stops:
                price, reason = _position_stop(
                    short, stop_ref[j], trail[j], open_[i, j], high[i, j], low[i, j], close[i, j], stop_loss,
                    take_profit, use_sl, use_tp, use_trail, slip, queue, gaps_first, slip_take_profit, cap, ledger,
                    on_close, level_tick)
            if reason == NO_REASON and time_rule_bars > 0 and i >= entry_bar[j] + time_rule_bars:
                price = exit_price(open_[i, j], short, slip, high[i, j], low[i, j], cap, ledger)
                reason = REASON_TIME_EXIT
            if reason != NO_REASON:
                cash, n_fills = _close_all(fills, n_fills, cash, position, j, i, price, fees, reason, ledger)
                exited[j] = True
                rule_hit[j] = True
            elif use_trail:
                if short:
                    src = low[i, j] if trail_on_high else close[i, j]
                else:
                    src = high[i, j] if trail_on_high else close[i, j]
                trail[j] = trail_step(trail[j], src, trailing_stop, trail_difference, short)
    return cash, n_fills


@njit(cache=True)
def simulate_signals(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    fill_next_open: bool,
    cash0: float,
    size: float,
    fee_rate: float,
    slippage: float,
    stop_loss: float,
    take_profit: float,
    stop_ref_is_fill_price: bool,
    trailing_stop: float,
    trail_on_high: bool,
    max_bars: int,
    queue: bool = False,
    gaps_first: bool = True,
    trail_difference: bool = False,
    stops_after_booking: bool = False,
    early_exit_after_stops: bool = False,
    slip_take_profit: bool = True,
    cap: bool = False,
    ref_size_weighted: bool = False,
    submit_check: bool = False,
    last_bar_fills: bool = False,
    open_exit_first: bool = True,
    open_exit_rules_reject: bool = False,
    time_exit_first: bool = True,
    time_label_time_exit: bool = False,
    trail_entry_close: bool = False,
    reentry_block_rule: bool = False,
    stops_before_open_entries: bool = False,
    cash_slack: float = 0.0,
    ledger: bool = False,
    fill_next_close: bool = False,
    stop_on_close_: bool = False,
    level_tick: float = 0.0,
    cash_check: bool = True,
    order_near_integer: bool = False,
    fixed_fee: float = 0.0,
    per_share: float = 0.0,
    min_fee: float = 0.0,
    slippage_abs: float = 0.0,
    sizing: int = SIZING_FIXED,
    whole_units: bool = False,
    percent_of_cash: bool = False,
    percent_at_fill: bool = False,
):
    """Signal execution, long and short, with exit rules on (n_bars, n_assets) arrays.

    ``entries``: 1 a long entry, 2 a short entry (a bool array: long entries); ``exits``: bit 1 a long
    exit, bit 2 a short exit (a bool array: long exits). A short position is a negative ``position``.

    ``stop_loss``, ``take_profit`` and ``trailing_stop`` are fractions, NaN when
    off; ``max_bars`` is 0 when off. The keyword flags are the behaviour knobs
    (``harness.contract``; their defaults are the contract): ``queue``
    (``stop_resolution``), ``gaps_first``, ``trail_difference``
    (``trail_arithmetic``), ``stops_after_booking`` (``stops_from``),
    ``early_exit_after_stops`` (``early_exit``), ``slip_take_profit``, ``cap``
    (``slippage_cap = "bar"``), ``ref_size_weighted`` (``fill_ref``),
    ``submit_check``, ``last_bar_fills`` (``last_bar = "fill"``),
    ``open_exit_first``, ``open_exit_rules_reject`` (``open_exit_rules``),
    ``time_exit_first``, ``time_label_time_exit`` (``time_signal_label``),
    ``trail_entry_close`` (``trail_entry_bar``), ``reentry_block_rule``
    (``reentry_block``), ``stops_before_open_entries``, ``cash_slack``, ``ledger``
    (``arithmetic``), ``fill_next_close`` (``fill = "next_close"``; ``fill_next_open``
    is then false), ``stop_on_close_`` (``stop_trigger = "close"``), ``level_tick``,
    ``cash_check`` (false: ``cash_check = "none"``), ``order_near_integer``
    (``order_rounding``). ``fixed_fee``, ``per_share``, ``min_fee`` and ``slippage_abs`` are the cost
    knobs of the same names (0: off). ``sizing`` (``SIZING_*``, ``[sizing] mode``) says what ``size``
    is: the units of every entry (``fixed``), the fraction of the equity (``percent_of_equity``) or the
    value (``target_value``) an entry buys, sized at the decision bar's close (``whole_units``: floored;
    ``percent_of_cash``: ``percent_base = "cash"``; ``percent_at_fill``: ``"cash_at_fill"``).
    Returns ``(fills, n_fills, rejections, n_rejected, equity)``: ``fills[:n_fills]`` are the fill records in execution order
    (columns ``F_*``), ``rejections[:n_rejected]`` the orders refused (columns
    ``R_*``), ``equity[i]`` the portfolio value at close[i] after bar i's fills.
    """
    n_bars, n_assets = close.shape
    # Buffers sized by the signals, not by bars x assets: every buy fills one entry signal, and every
    # sell closes a whole position one buy opened, so fills <= 2 x entries. A refused order is an entry
    # signal's buy, or (open_exit_rules = "reject") a rule's sell on the bar its position closes, so
    # rejections <= 2 x entries too.
    n_entries = 0
    for i in range(n_bars):
        for j in range(n_assets):
            if entries[i, j]:
                n_entries += 1
    fills = np.empty((2 * n_entries, N_FILL_FIELDS))
    n_fills = 0
    rejections = np.empty((2 * n_entries, N_REJECTION_FIELDS))
    n_rejected = 0
    equity = np.empty(n_bars)
    position = np.zeros(n_assets)
    pending = np.zeros(n_assets, dtype=np.int8)
    pending_reason = np.zeros(n_assets, dtype=np.int8)
    pending_late = np.zeros(n_assets, dtype=np.bool_)  # next_open: an early exit the stops still precede
    pending_size = np.zeros(n_assets)  # a deferred entry's size, decided with it
    pending_short = np.zeros(n_assets, dtype=np.bool_)  # a deferred entry sells short
    entry_bar = np.full(n_assets, -1, dtype=np.int64)
    signal_bar = np.full(n_assets, -1, dtype=np.int64)  # the entry's signal bar
    first_stop_bar = np.full(n_assets, -1, dtype=np.int64)
    stop_ref = np.zeros(n_assets)
    trail = np.zeros(n_assets)  # the trailing level (only rises)
    use_sl = not np.isnan(stop_loss)
    use_tp = not np.isnan(take_profit)
    use_trail = not np.isnan(trailing_stop)
    use_stops = use_sl or use_tp or use_trail
    # time_exit_first = false (next_open): the time exit is a rule of bar fill_bar + N, checked in step 2.
    time_rule_bars = max_bars if (fill_next_open and not time_exit_first and max_bars > 0) else 0
    use_rules = use_stops or time_rule_bars > 0
    cash = cash0
    last = n_bars - 1
    deferred = fill_next_open or fill_next_close  # a decision fills on the next bar
    fill_close = not deferred
    delay = 1 if stops_after_booking and fill_close else 0
    if not cash_check:
        cash_slack = np.inf  # no cash check: every buy fits
    if order_near_integer and sizing == SIZING_FIXED:
        size = near_integer(size)
    fees = (fee_rate, fixed_fee, per_share, min_fee)
    slip = (slippage, slippage_abs)
    at_fill = sizing == SIZING_PERCENT_OF_EQUITY and percent_at_fill  # an entry's units are decided at its fill

    exited = np.zeros(n_assets, dtype=np.bool_)
    rule_hit = np.zeros(n_assets, dtype=np.bool_)  # an exit rule triggered on this bar (filled or rejected)
    for i in range(n_bars):
        exited[:] = False
        rule_hit[:] = False

        # Phase 1 (next_open): orders decided on bar i-1 fill at open[i], all exits before all entries.
        for j in range(n_assets):
            if fill_next_open and pending[j] == ORDER_EXIT:
                pending[j] = NO_ORDER
                if position[j] != 0.0:
                    short = position[j] < 0.0
                    reason = NO_REASON
                    # The stops come first: early_exit = "after_stops" (an exit decided the bar after the
                    # entry signal), or open_exit_first = false (every exit at the open).
                    if use_stops and (pending_late[j] or (not open_exit_first and i >= first_stop_bar[j])):
                        price, reason = _position_stop(
                            short, stop_ref[j], trail[j], open_[i, j], high[i, j], low[i, j], close[i, j],
                            stop_loss, take_profit, use_sl, use_tp, use_trail, slip, queue, gaps_first,
                            slip_take_profit, cap, ledger, stop_on_close_, level_tick)
                        if reason != NO_REASON:
                            rule_hit[j] = True
                    if reason == NO_REASON:
                        if open_exit_rules_reject and use_rules and i >= first_stop_bar[j]:
                            # The exit rules still see the position on this bar; their order finds it gone.
                            rule = NO_REASON
                            if use_stops:
                                _, rule = _position_stop(
                                    short, stop_ref[j], trail[j], open_[i, j], high[i, j], low[i, j], close[i, j],
                                    stop_loss, take_profit, use_sl, use_tp, use_trail, slip, queue, gaps_first,
                                    slip_take_profit, cap, ledger, stop_on_close_, level_tick)
                            if rule == NO_REASON and time_rule_bars > 0 and i >= entry_bar[j] + time_rule_bars:
                                rule = REASON_TIME_EXIT
                            if rule != NO_REASON:
                                n_rejected = _reject(rejections, n_rejected, j, i, BUY if short else SELL,
                                                     abs(position[j]), rule)
                                rule_hit[j] = True
                        price = exit_price(open_[i, j], short, slip, high[i, j], low[i, j], cap, ledger)
                        reason = pending_reason[j]
                    cash, n_fills = _close_all(fills, n_fills, cash, position, j, i, price, fees, reason, ledger)
                    exited[j] = True
                pending_late[j] = False

        # Phase 1's entries, then phase 2 (the exit rules of every asset, from its first stop bar);
        # stops_before_open_entries swaps them.
        if fill_next_open and not stops_before_open_entries:
            cash, n_fills, n_rejected = _open_entries(
                fills, n_fills, rejections, n_rejected, cash, position, pending, entry_bar, signal_bar,
                first_stop_bar, stop_ref, trail, i, open_, high, low, close, pending_size, pending_short, fees, slip, cap,
                stop_ref_is_fill_price, ref_size_weighted, trailing_stop, trail_difference, delay, cash_slack, ledger,
                at_fill, whole_units)
        if use_rules:
            cash, n_fills = _rule_exits(
                fills, n_fills, cash, position, entry_bar, first_stop_bar, stop_ref, trail, exited, rule_hit, i,
                open_, high, low, close, fees, slip, stop_loss, take_profit, trailing_stop, trail_on_high,
                use_sl, use_tp, use_trail, use_stops, time_rule_bars, queue, gaps_first, trail_difference,
                slip_take_profit, cap, ledger, pending, stop_on_close_, level_tick)
        if fill_next_open and stops_before_open_entries:
            cash, n_fills, n_rejected = _open_entries(
                fills, n_fills, rejections, n_rejected, cash, position, pending, entry_bar, signal_bar,
                first_stop_bar, stop_ref, trail, i, open_, high, low, close, pending_size, pending_short, fees, slip, cap,
                stop_ref_is_fill_price, ref_size_weighted, trailing_stop, trail_difference, delay, cash_slack, ledger,
                at_fill, whole_units)

        # Phase 3 (next_close): orders decided on bar i-1 fill at close[i], all exits before all entries.
        if fill_next_close:
            for j in range(n_assets):
                if pending[j] == ORDER_EXIT:
                    pending[j] = NO_ORDER
                    if position[j] != 0.0:
                        price = exit_price(close[i, j], position[j] < 0.0, slip, high[i, j], low[i, j], cap, ledger)
                        cash, n_fills = _close_all(fills, n_fills, cash, position, j, i, price, fees,
                                                   pending_reason[j], ledger)
                        exited[j] = True
            cash, n_fills, n_rejected = _open_entries(
                fills, n_fills, rejections, n_rejected, cash, position, pending, entry_bar, signal_bar,
                first_stop_bar, stop_ref, trail, i, close, high, low, close, pending_size, pending_short, fees, slip,
                cap,
                stop_ref_is_fill_price, ref_size_weighted, trailing_stop, trail_difference, delay, cash_slack, ledger,
                at_fill, whole_units)

        # Nothing decided on the last bar fills (unless last_bar = "fill", in close mode).
        if i != last or (last_bar_fills and fill_close):
            nxt = i + 1 if i < last else i  # the bar that books a close fill (slippage_cap)
            # Phase 3: exits at this close (close), or decided for the next open (next_open):
            # a time exit due, or an exit signal; both at once are labelled signal (time_signal_label).
            sub_cash = cash  # submit_check: this bar's orders pseudo-executed at close[i], in order
            decision_cash = cash  # percent_base = "cash": the cash before this bar's exits at the close
            for j in range(n_assets):
                if position[j] == 0.0 or np.isnan(close[i, j]):
                    continue
                short = position[j] < 0.0
                signal_exit = (int(exits[i, j]) & (2 if short else 1)) != 0
                time_due = (max_bars > 0 and (time_exit_first or not fill_next_open)
                            and i + (1 if deferred else 0) == entry_bar[j] + max_bars)
                if not (signal_exit or time_due):
                    continue
                reason = REASON_SIGNAL if signal_exit else REASON_TIME_EXIT
                if time_due and time_label_time_exit and fill_close:
                    reason = REASON_TIME_EXIT
                if submit_check:
                    sub_cash = (sub_cash + position[j] * close[i, j]) - check_fee(fees, abs(position[j]), close[i, j])
                late = early_exit_after_stops and use_stops and i == signal_bar[j] + 1
                if deferred:
                    pending[j] = ORDER_EXIT
                    pending_reason[j] = reason
                    pending_late[j] = late and fill_next_open
                    continue
                if late and i < last:
                    # The stops are checked on bar i+1 before this close exit is booked: one that fills
                    # there replaces it (the position stays open through close[i]).
                    _, stop_reason = _position_stop(
                        short, stop_ref[j], trail[j], open_[nxt, j], high[nxt, j], low[nxt, j], close[nxt, j],
                        stop_loss, take_profit, use_sl, use_tp, use_trail, slip, queue, gaps_first,
                        slip_take_profit, cap, ledger, stop_on_close_, level_tick)
                    if stop_reason != NO_REASON:
                        first_stop_bar[j] = min(first_stop_bar[j], nxt)
                        continue
                price = exit_price(close[i, j], short, slip, high[nxt, j], low[nxt, j], cap, ledger)
                cash, n_fills = _close_all(fills, n_fills, cash, position, j, i, price, fees, reason, ledger)
                exited[j] = True
            # Phase 4: entries, ignored while long, while an order is pending, and (close) on an exit bar
            # (reentry_block = "rule_trigger": also on a bar where an exit rule of the asset triggered).
            # percent_of_equity: every entry of this bar is sized from one value, cash + positions at close[i],
            # as they stand before the first of them.
            bar_value = 0.0
            if sizing == SIZING_PERCENT_OF_EQUITY and percent_of_cash:
                bar_value = decision_cash
            elif sizing == SIZING_PERCENT_OF_EQUITY:
                bar_value = cash
                for j in range(n_assets):
                    if position[j] != 0.0:
                        bar_value += position[j] * close[i, j]
            for j in range(n_assets):
                code = int(entries[i, j])
                if code == 0 or position[j] != 0.0 or pending[j] != NO_ORDER or np.isnan(close[i, j]):
                    continue
                short = code == 2
                side = SELL if short else BUY
                if at_fill:
                    q = size
                elif sizing == SIZING_PERCENT_OF_EQUITY and percent_of_cash:
                    # cash / close * p, the order a sizer reading the broker's cash computes it in
                    q = whole_size(bar_value / close[i, j] * size, whole_units, order_near_integer)
                else:
                    q = entry_size(sizing, size, bar_value, close[i, j], whole_units, order_near_integer)
                if not q > 0.0:
                    continue  # an entry of 0 units (order_rounding, whole units, no equity): no order
                if exited[j] and fill_close:
                    continue
                if reentry_block_rule and rule_hit[j]:
                    continue
                if submit_check:
                    # Rejected when it does not fit at close[i], unslipped, fee included; the running cash
                    # keeps the shortfall (a later entry of this bar sees it too). A short sale adds its proceeds.
                    if short:
                        sub_cash = (sub_cash + q * close[i, j]) - check_fee(fees, q, close[i, j])
                    else:
                        sub_cash = (sub_cash - q * close[i, j]) - check_fee(fees, q, close[i, j])
                    if sub_cash < 0.0:
                        n_rejected = _reject(rejections, n_rejected, j, i + 1 if deferred else i, side, q,
                                             REASON_SIGNAL)
                        continue
                if deferred:
                    pending[j] = ORDER_ENTRY
                    pending_size[j] = q
                    pending_short[j] = short
                else:
                    cash, n_fills, filled, q = _enter(fills, n_fills, cash, position, j, i, short, close[i, j],
                                                      high[nxt, j], low[nxt, j], q, fees, slip, cap, cash_slack,
                                                      ledger, at_fill, whole_units)
                    if filled:
                        entry_bar[j] = i
                        signal_bar[j] = i
                        first_stop_bar[j] = i + 1 + delay
                        stop_ref[j] = (_fill_ref(fills[n_fills - 1, F_PRICE], q, ref_size_weighted)
                                       if stop_ref_is_fill_price else close[i, j])
                        trail[j] = trail_start(stop_ref[j], trailing_stop, trail_difference, short)
                    elif q > 0.0:
                        n_rejected = _reject(rejections, n_rejected, j, i, side, q, REASON_SIGNAL)

        if trail_entry_close and use_trail:
            # trail_entry_bar = "close": the entry-fill bar's close already raises the hwm.
            for j in range(n_assets):
                if position[j] != 0.0 and entry_bar[j] == i:
                    trail[j] = trail_step(trail[j], close[i, j], trailing_stop, trail_difference, position[j] < 0.0)

        value = cash
        for j in range(n_assets):
            if position[j] != 0.0:
                value += position[j] * close[i, j]
        equity[i] = value

    return fills, n_fills, rejections, n_rejected, equity


@njit(cache=True)
def portfolio_value(cash, position, price_row, opened, ledger, grouped):
    """cash + each position * price, in asset order. ``ledger`` (``arithmetic = "ledger"``): the
    positions in the order they were opened (``opened``), added one by one to the cash, or
    (``grouped``) summed from 0 first and then added to the cash."""
    if not ledger:
        value = cash
        for j in range(position.shape[0]):
            if position[j] != 0.0:
                value += position[j] * price_row[j]
        return value
    held = np.flatnonzero(position != 0.0)
    order = held[np.argsort(opened[held], kind="mergesort")]
    total = 0.0 if grouped else cash
    for j in order:
        total += position[j] * price_row[j]
    return cash + total if grouped else total


@njit(cache=True)
def rebalance_orders(close_row, weights_row, position, opened, cash, whole_units, value_floor_div,
                     sells_then_assets, value_delta_size, min_order_value, truncate_at_fill, ledger,
                     near_integer_units=False):
    """Order sizes and their execution sequence for one rebalance bar.

    Each listed asset with a target weight w gets ``w * V / close - position``
    units (``value_delta_size``: ``(V * w - position * close) / close``), V
    being the portfolio value at this close (``ledger``: see
    :func:`portfolio_value`); none when ``|w * V - position * close|`` is
    below ``min_order_value``. Whole units floor the order's magnitude
    (``truncate_at_fill``: not here, when it executes; ``value_floor_div``:
    ``whole_rounding = "value_floor_div"``, sized from the value change by
    float floor division). The sequence sorts by value change ``w * V -
    position * close``, ascending (sells first, then the smallest buys),
    keeping asset order on ties (``sells_then_assets``: sells in asset order,
    then the rest in asset order). ``near_integer_units`` (``order_rounding = "near_integer"``): the
    unrounded size is made whole by :func:`near_integer` instead, whatever the units. Returns
    ``(sizes, sequence, n_orders)``.
    """
    n_assets = close_row.shape[0]
    if ledger:
        value = portfolio_value(cash, position, close_row, opened, True, False)
    else:
        value = cash
        for j in range(n_assets):
            if position[j] != 0.0:
                value += position[j] * close_row[j]
    sizes = np.zeros(n_assets)
    keys = np.empty(n_assets)
    sequence = np.empty(n_assets, dtype=np.int64)
    n_orders = 0
    for j in range(n_assets):
        if np.isnan(close_row[j]) or np.isnan(weights_row[j]):
            continue
        target = weights_row[j] * value
        current = position[j] * close_row[j]
        if abs(target - current) < min_order_value:
            continue
        if whole_units and value_floor_div and not near_integer_units:
            if target > current:
                size = (target - current) // close_row[j]
            elif target < current:
                size = -position[j] if target == 0.0 else -((current - target) // close_row[j])
            else:
                size = 0.0
        else:
            if value_delta_size:
                size = (target - current) / close_row[j]
            else:
                size = weights_row[j] * value / close_row[j] - position[j]
            if near_integer_units:
                size = near_integer(size)
            elif whole_units and not truncate_at_fill:
                size = np.floor(size) if size >= 0.0 else -np.floor(-size)
        sizes[j] = size
        if sells_then_assets:
            key = 0.0 if target < current else 1.0
        else:
            key = target - current
        # Stable insertion by key.
        k = n_orders
        while k > 0 and keys[k - 1] > key:
            keys[k] = keys[k - 1]
            sequence[k] = sequence[k - 1]
            k -= 1
        keys[k] = key
        sequence[k] = j
        n_orders += 1
    return sizes, sequence, n_orders


@njit(cache=True)
def _execute_rebalance(fills, n_fills, rejections, n_rejected, cash, position, opened, n_opened, bar, price_row,
                       high_row, low_row, sizes, sequence, n_orders, fees, slip, cap, check_row, submit_check,
                       truncate_at_fill, whole_partial, sell_residue_tolerant, cash_slack, ledger):
    """Execute one rebalance in sequence at ``price_row``; an order that does not fit is rejected whole.

    ``high_row``/``low_row``: the bar whose range caps a slipped price (``cap``). ``submit_check``:
    first pseudo-execute the sequence at ``check_row`` (the decision bar's close), unslipped, fee
    included; a buy that takes the running cash below 0 is rejected (the running cash keeps the
    shortfall), the others then execute as usual. The other flags are the rotation behaviour knobs
    (``whole_rounding = "truncate_at_fill"``, ``whole_shortfall = "partial"``, ``sell_residue =
    "tolerant"``, ``cash_slack``, ``arithmetic = "ledger"``); ``opened[j]`` numbers the positions in
    the order they were opened (``n_opened`` so far). Returns ``(cash, n_fills, n_rejected, n_opened)``.
    """
    passed = np.ones(n_orders, dtype=np.bool_)
    if submit_check:
        sub_cash = cash
        for k in range(n_orders):
            j = sequence[k]
            q = sizes[j]
            if q < 0.0:
                sub_cash = (sub_cash + -q * check_row[j]) - check_fee(fees, -q, check_row[j])
            elif q > 0.0:
                sub_cash = (sub_cash - q * check_row[j]) - check_fee(fees, q, check_row[j])
                passed[k] = sub_cash >= 0.0
    for k in range(n_orders):
        j = sequence[k]
        size = sizes[j]
        if not passed[k]:
            n_rejected = _reject(rejections, n_rejected, j, bar, BUY, size, REASON_REBALANCE)
            continue
        if size == 0.0:
            continue
        qty = -size if size < 0.0 else size
        if truncate_at_fill:
            # The unrounded order executes truncated to whole units; truncated to 0 it is refused.
            qty = np.floor(qty)
            if qty == 0.0:
                n_rejected = _reject(rejections, n_rejected, j, bar, SELL if size < 0.0 else BUY, -size if size < 0.0
                                     else size, REASON_REBALANCE)
                continue
        if size < 0.0:
            if sell_residue_tolerant and position[j] - qty < 0.0:
                # More than the position: a reversal, refused in a cash account.
                n_rejected = _reject(rejections, n_rejected, j, bar, SELL, -size, REASON_REBALANCE)
                continue
            held = position[j]
            cash, n_fills = _sell(fills, n_fills, cash, position, j, bar,
                                  cap_sell(price_row[j], slip, low_row[j], cap, ledger), qty,
                                  fees, REASON_REBALANCE, ledger)
            if sell_residue_tolerant:
                scale = max(abs(held), qty)
                if abs(position[j]) <= max(1e-12, 16.0 * (np.nextafter(scale, np.inf) - scale)):
                    position[j] = 0.0
            continue
        was_flat = position[j] == 0.0
        price = cap_buy(price_row[j], slip, high_row[j], cap, ledger)
        if whole_partial and not fits(qty, price_row[j], fees, cash, cash_slack, ledger):
            # The largest whole size that fits at the unslipped price; it must still fit at the fill price.
            lo = 0.0
            hi = np.floor(qty)
            while lo < hi:
                mid = np.floor((lo + hi + 1.0) / 2.0)
                if fits(mid, price_row[j], fees, cash, cash_slack, ledger):
                    lo = mid
                else:
                    hi = mid - 1.0
            qty = lo
        filled = False
        if qty > 0.0:
            cash, n_fills, filled = _buy(fills, n_fills, cash, position, j, bar, price, qty, fees,
                                         REASON_REBALANCE, cash_slack, ledger)
        if not filled:
            n_rejected = _reject(rejections, n_rejected, j, bar, BUY, size, REASON_REBALANCE)
        elif was_flat and ledger:
            opened[j] = n_opened
            n_opened += 1
    return cash, n_fills, n_rejected, n_opened


@njit(cache=True)
def simulate_rotation(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    weights: np.ndarray,
    is_rebalance: np.ndarray,
    fill_next_open: bool,
    cash0: float,
    fee_rate: float,
    slippage: float,
    whole_units: bool,
    value_floor_div: bool = False,
    sells_then_assets: bool = False,
    cap: bool = False,
    submit_check: bool = False,
    last_bar_fills: bool = False,
    value_delta_size: bool = False,
    min_order_value: float = 0.0,
    truncate_at_fill: bool = False,
    whole_partial: bool = False,
    sell_residue_tolerant: bool = False,
    cash_slack: float = 0.0,
    ledger: bool = False,
    fill_next_close: bool = False,
    cash_check: bool = True,
    order_near_integer: bool = False,
    fixed_fee: float = 0.0,
    per_share: float = 0.0,
    min_fee: float = 0.0,
    slippage_abs: float = 0.0,
):
    """Target-weight rotation with one shared cash pool on (n_bars, n_assets) arrays.

    On a rebalance bar t (not the last, unless ``last_bar_fills`` in ``close``
    mode), orders are sized from close[t] and the value at close[t]
    (:func:`rebalance_orders`) and fill at close[t] (``close``), open[t+1]
    (``next_open``) or close[t+1] (``fill_next_close``) in their sequence. The
    other keyword flags are behaviour knobs (``whole_rounding``,
    ``rebalance_sequence``, ``slippage_cap``, ``submit_check``, ``last_bar``,
    ``order_size``, ``min_order_value``, ``whole_shortfall``, ``sell_residue``,
    ``cash_slack``, ``arithmetic``, ``cash_check``, ``order_rounding``);
    their defaults are the contract. ``fixed_fee``, ``per_share``, ``min_fee`` and ``slippage_abs`` are
    the cost knobs of the same names (0: off). Returns the same tuple as
    :func:`simulate_signals`.
    """
    n_bars, n_assets = close.shape
    # One order at most per asset per rebalance bar, each either filled or refused.
    n_orders_max = 0
    for i in range(n_bars):
        if is_rebalance[i]:
            n_orders_max += n_assets
    fills = np.empty((n_orders_max, N_FILL_FIELDS))
    rejections = np.empty((n_orders_max, N_REJECTION_FIELDS))
    n_fills = 0
    n_rejected = 0
    equity = np.empty(n_bars)
    position = np.zeros(n_assets)
    opened = np.zeros(n_assets, dtype=np.int64)  # arithmetic = "ledger": the order positions were opened in
    n_opened = 0
    cash = cash0
    last = n_bars - 1
    pending_sizes = np.zeros(n_assets)
    pending_sequence = np.empty(n_assets, dtype=np.int64)
    n_pending = 0
    pending_check = np.empty(n_assets)  # the decision bar's closes
    whole_partial = whole_partial and whole_units
    truncate_at_fill = truncate_at_fill and whole_units and not order_near_integer
    deferred = fill_next_open or fill_next_close
    if not cash_check:
        cash_slack = np.inf  # no cash check: every buy fits
    fees = (fee_rate, fixed_fee, per_share, min_fee)
    slip = (slippage, slippage_abs)

    for i in range(n_bars):
        if n_pending > 0:
            cash, n_fills, n_rejected, n_opened = _execute_rebalance(
                fills, n_fills, rejections, n_rejected, cash, position, opened, n_opened, i,
                close[i] if fill_next_close else open_[i], high[i], low[i],
                pending_sizes, pending_sequence, n_pending, fees, slip, cap, pending_check, submit_check,
                truncate_at_fill, whole_partial, sell_residue_tolerant, cash_slack, ledger)
            n_pending = 0
        if is_rebalance[i] and (i != last or (last_bar_fills and not deferred)):
            sizes, sequence, n_orders = rebalance_orders(close[i], weights[i], position, opened, cash, whole_units,
                                                         value_floor_div, sells_then_assets, value_delta_size,
                                                         min_order_value, truncate_at_fill, ledger, order_near_integer)
            if deferred:
                pending_sizes[:] = sizes
                pending_sequence[:] = sequence
                pending_check[:] = close[i]
                n_pending = n_orders
            else:
                # A close fill is capped by the range of the bar after it (where Backtrader books it).
                nxt = i + 1 if i < last else i
                cash, n_fills, n_rejected, n_opened = _execute_rebalance(
                    fills, n_fills, rejections, n_rejected, cash, position, opened, n_opened, i, close[i], high[nxt],
                    low[nxt], sizes, sequence, n_orders, fees, slip, cap, close[i], submit_check,
                    truncate_at_fill, whole_partial, sell_residue_tolerant, cash_slack, ledger)
        equity[i] = portfolio_value(cash, position, close[i], opened, ledger, True)

    return fills, n_fills, rejections, n_rejected, equity
