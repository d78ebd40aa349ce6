"""The reference engine's numba kernel: plain arrays in, fill records and equity out.

The kernel holds no Python objects. Per bar it runs the contract's phases in
time order, each across every asset before the next begins
(``harness.contract.EXIT_PRECEDENCE`` states them):

1. ``next_open`` mode: orders decided on the previous bar fill at this open;
2. stops (stop-loss, take-profit, trailing) checked against this bar's range;
3. exits at this close (``close``), or decided for the next open (``next_open``);
4. entries at this close, or decided for the next open.

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

# Fill record columns (float64 matrix): asset, bar, side, size, price, fee, reason.
F_ASSET, F_BAR, F_SIDE, F_SIZE, F_PRICE, F_FEE, F_REASON = range(7)
N_FILL_FIELDS = 7
# Rejection record columns: asset, bar (where it would have filled), side, size, reason.
R_ASSET, R_BAR, R_SIDE, R_SIZE, R_REASON = range(5)
N_REJECTION_FIELDS = 5


@njit(cache=True)
def slipped_price(price: float, side: int, slippage: float) -> float:
    """Buys pay p*(1+s), sells receive p*(1-s)."""
    if side == BUY:
        return price * (1.0 + slippage)
    return price * (1.0 - slippage)


@njit(cache=True)
def _record(fills: np.ndarray, n_fills: int, asset: int, bar: int, side: int, size: float,
            price: float, fee: float, reason: int) -> int:
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
    rejections[n_rejected, R_ASSET] = asset
    rejections[n_rejected, R_BAR] = bar
    rejections[n_rejected, R_SIDE] = side
    rejections[n_rejected, R_SIZE] = size
    rejections[n_rejected, R_REASON] = reason
    return n_rejected + 1


@njit(cache=True)
def _sell(fills, n_fills, cash, position, asset, bar, raw_price, qty, fee_rate, slippage, reason):
    """Sell ``qty`` units of ``asset`` at ``raw_price`` (before slippage)."""
    price = slipped_price(raw_price, SELL, slippage)
    fee = fee_rate * qty * price
    position[asset] -= qty
    n_fills = _record(fills, n_fills, asset, bar, SELL, qty, price, fee, reason)
    return cash + qty * price - fee, n_fills


@njit(cache=True)
def _sell_all(fills, n_fills, cash, position, asset, bar, raw_price, fee_rate, slippage, reason):
    """Close the whole position of ``asset`` at ``raw_price`` (before slippage)."""
    cash, n_fills = _sell(fills, n_fills, cash, position, asset, bar, raw_price, position[asset],
                          fee_rate, slippage, reason)
    position[asset] = 0.0  # exactly flat, whatever the float arithmetic
    return cash, n_fills


@njit(cache=True)
def _buy(fills, n_fills, cash, position, asset, bar, raw_price, size, fee_rate, slippage, reason):
    """Buy ``size`` units if cost plus fee fits in the cash; else reject the order whole.

    Returns ``(cash, n_fills, filled)``.
    """
    price = slipped_price(raw_price, BUY, slippage)
    fee = fee_rate * size * price
    cost = size * price + fee
    if cost > cash:
        return cash, n_fills, False
    position[asset] += size
    n_fills = _record(fills, n_fills, asset, bar, BUY, size, price, fee, reason)
    return cash - cost, n_fills, True


@njit(cache=True)
def stop_exit(open_: float, high: float, low: float, sl_level: float, tp_level: float, trail_level: float,
              queue: bool, gaps_first: bool):
    """Which stop fills on this bar, at what price before slippage, and whether it gapped.

    Levels that are off are passed as -inf (stop-loss, trailing) or +inf
    (take-profit). ``queue`` False (contract): the stop-loss and trailing levels
    act as one stop at the higher of the two; True: they are checked one after
    the other, stop-loss first. ``gaps_first`` True (contract): every level
    gapped at the open fills there before intrabar levels are checked; False:
    the stops are checked completely before the take-profit. Returns
    ``(price, reason, gapped)``, reason NO_REASON when nothing fills.
    """
    if queue:
        first_level, first_reason = sl_level, REASON_STOP_LOSS
        second_level, second_reason = trail_level, REASON_TRAILING_STOP
    else:
        if trail_level > sl_level:
            first_level, first_reason = trail_level, REASON_TRAILING_STOP
        else:
            first_level, first_reason = sl_level, REASON_STOP_LOSS
        second_level, second_reason = -np.inf, NO_REASON
    if gaps_first:
        if open_ <= first_level:
            return open_, first_reason, True
        if open_ <= second_level:
            return open_, second_reason, True
        if open_ >= tp_level:
            return open_, REASON_TAKE_PROFIT, True
        if low <= first_level:
            return first_level, first_reason, False
        if low <= second_level:
            return second_level, second_reason, False
    else:
        if open_ <= first_level:
            return open_, first_reason, True
        if low <= first_level:
            return first_level, first_reason, False
        if open_ <= second_level:
            return open_, second_reason, True
        if low <= second_level:
            return second_level, second_reason, False
        if open_ >= tp_level:
            return open_, REASON_TAKE_PROFIT, True
    if high >= tp_level:
        return tp_level, REASON_TAKE_PROFIT, False
    return np.nan, NO_REASON, False


@njit(cache=True)
def _check_stops(j, i, open_, high, low, sl_level, tp_level, trail_level, queue, gaps_first,
                 fills, n_fills, cash, position, fee_rate, slippage, slip_take_profit):
    """Fill asset ``j``'s stop on bar ``i`` if one is reached; returns ``(cash, n_fills, filled)``."""
    price, reason, gapped = stop_exit(open_[i, j], high[i, j], low[i, j], sl_level, tp_level, trail_level,
                                      queue, gaps_first)
    if reason == NO_REASON:
        return cash, n_fills, False
    slip = slippage
    if reason == REASON_TAKE_PROFIT and not gapped and not slip_take_profit:
        slip = 0.0
    cash, n_fills = _sell_all(fills, n_fills, cash, position, j, i, price, fee_rate, slip, reason)
    return cash, n_fills, True


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
    last_bar_fills: bool,
    open_exit_first: bool,
    queue_stops: bool,
    gaps_first: bool,
    trail_difference: bool,
    slip_take_profit: bool,
):
    """Long-only fixed-size signal execution with exit rules on (n_bars, n_assets) arrays.

    ``stop_loss``, ``take_profit`` and ``trailing_stop`` are fractions, NaN when
    off; ``max_bars`` is 0 when off. The last six arguments are the behaviour
    knobs (``harness.contract``: last_bar == "fill", open_exit_first,
    stop_resolution == "queue", gaps_first, trail_arithmetic == "difference",
    slip_take_profit). Returns ``(fills, n_fills, rejections, n_rejected,
    equity)``: ``fills[:n_fills]`` are the fill records in execution order
    (columns ``F_*``), ``rejections[:n_rejected]`` the entries that did not fit
    in the cash (columns ``R_*``), ``equity[i]`` the portfolio value at close[i]
    after bar i's fills.
    """
    n_bars, n_assets = close.shape
    fills = np.empty((n_bars * n_assets, N_FILL_FIELDS))
    n_fills = 0
    rejections = np.empty((n_bars * n_assets, N_REJECTION_FIELDS))
    n_rejected = 0
    equity = np.empty(n_bars)
    position = np.zeros(n_assets)
    pending = np.zeros(n_assets, dtype=np.int8)
    pending_reason = np.zeros(n_assets, dtype=np.int8)
    entry_bar = np.full(n_assets, -1, dtype=np.int64)
    stop_ref = np.zeros(n_assets)
    hwm = np.zeros(n_assets)
    use_sl = not np.isnan(stop_loss)
    use_tp = not np.isnan(take_profit)
    use_trail = not np.isnan(trailing_stop)
    use_stops = use_sl or use_tp or use_trail
    cash = cash0
    last = n_bars - 1

    sl_level = np.full(n_assets, -np.inf)
    tp_level = np.full(n_assets, np.inf)
    trail_level = np.full(n_assets, -np.inf)
    exited = np.zeros(n_assets, dtype=np.bool_)
    for i in range(n_bars):
        exited[:] = False
        # This bar's stop levels, for every open position past its entry bar.
        if use_stops:
            for j in range(n_assets):
                if position[j] > 0.0 and i > entry_bar[j]:
                    ref = stop_ref[j]
                    if use_sl:
                        sl_level[j] = ref * (1.0 - stop_loss)
                    if use_tp:
                        tp_level[j] = ref * (1.0 + take_profit)
                    if use_trail:
                        if trail_difference:
                            trail_level[j] = hwm[j] - hwm[j] * trailing_stop
                        else:
                            trail_level[j] = hwm[j] * (1.0 - trailing_stop)

        # Phase 1 (next_open): orders decided on bar i-1 fill at open[i], all exits before all entries.
        for j in range(n_assets):
            if pending[j] == ORDER_EXIT:
                pending[j] = NO_ORDER
                if position[j] > 0.0:
                    if not open_exit_first and use_stops and i > entry_bar[j]:
                        # The bar's stops come first; one that fills drops the exit.
                        cash, n_fills, stopped = _check_stops(
                            j, i, open_, high, low, sl_level[j], tp_level[j], trail_level[j], queue_stops,
                            gaps_first, fills, n_fills, cash, position, fee_rate, slippage, slip_take_profit)
                        if stopped:
                            exited[j] = True
                            continue
                    cash, n_fills = _sell_all(fills, n_fills, cash, position, j, i, open_[i, j],
                                              fee_rate, slippage, pending_reason[j])
                    exited[j] = True
        for j in range(n_assets):
            if pending[j] == ORDER_ENTRY:
                pending[j] = NO_ORDER
                if position[j] == 0.0:
                    cash, n_fills, filled = _buy(fills, n_fills, cash, position, j, i, open_[i, j],
                                                 size, fee_rate, slippage, REASON_SIGNAL)
                    if filled:
                        entry_bar[j] = i
                        stop_ref[j] = fills[n_fills - 1, F_PRICE] if stop_ref_is_fill_price else close[i, j]
                        hwm[j] = stop_ref[j]
                    else:
                        n_rejected = _reject(rejections, n_rejected, j, i, BUY, size, REASON_SIGNAL)

        # Phase 2: intrabar stops of every asset, from the bar after its entry fill.
        if use_stops:
            for j in range(n_assets):
                if position[j] > 0.0 and i > entry_bar[j] and not exited[j]:
                    cash, n_fills, stopped = _check_stops(
                        j, i, open_, high, low, sl_level[j], tp_level[j], trail_level[j], queue_stops,
                        gaps_first, fills, n_fills, cash, position, fee_rate, slippage, slip_take_profit)
                    if stopped:
                        exited[j] = True
                    elif use_trail:
                        hwm[j] = max(hwm[j], high[i, j] if trail_on_high else close[i, j])

        # Nothing decided on the last bar fills (unless last_bar = "fill" in close mode).
        if i != last or (last_bar_fills and not fill_next_open):
            # Phase 3: exits at this close (close), or decided for the next open (next_open):
            # a time exit due, or an exit signal; both at once are labelled signal.
            for j in range(n_assets):
                if position[j] <= 0.0 or np.isnan(close[i, j]):
                    continue
                time_due = max_bars > 0 and i + (1 if fill_next_open else 0) == entry_bar[j] + max_bars
                if not (exits[i, j] or time_due):
                    continue
                reason = REASON_SIGNAL if exits[i, j] else REASON_TIME_EXIT
                if fill_next_open:
                    pending[j] = ORDER_EXIT
                    pending_reason[j] = reason
                else:
                    cash, n_fills = _sell_all(fills, n_fills, cash, position, j, i, close[i, j],
                                              fee_rate, slippage, reason)
                    exited[j] = True
            # Phase 4: entries, ignored while long, while an order is pending, and (close) on an exit bar.
            for j in range(n_assets):
                if not entries[i, j] or position[j] != 0.0 or pending[j] != NO_ORDER or np.isnan(close[i, j]):
                    continue
                if fill_next_open:
                    pending[j] = ORDER_ENTRY
                elif not exited[j]:
                    cash, n_fills, filled = _buy(fills, n_fills, cash, position, j, i, close[i, j],
                                                 size, fee_rate, slippage, REASON_SIGNAL)
                    if filled:
                        entry_bar[j] = i
                        stop_ref[j] = fills[n_fills - 1, F_PRICE] if stop_ref_is_fill_price else close[i, j]
                        hwm[j] = stop_ref[j]
                    else:
                        n_rejected = _reject(rejections, n_rejected, j, i, BUY, size, REASON_SIGNAL)

        value = cash
        for j in range(n_assets):
            if position[j] != 0.0:
                value += position[j] * close[i, j]
        equity[i] = value

    return fills, n_fills, rejections, n_rejected, equity


@njit(cache=True)
def rebalance_orders(close_row, weights_row, position, cash, whole_units):
    """Order sizes and their execution sequence for one rebalance bar.

    Each listed asset with a target weight w gets ``w * V / close - position``
    units, V being the portfolio value at this close. Whole units floor the
    order's magnitude. The sequence sorts by value change ``w * V -
    position * close``, ascending (sells first, then the smallest buys),
    keeping asset order on ties. Returns ``(sizes, sequence, n_orders)``.
    """
    n_assets = close_row.shape[0]
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
        size = weights_row[j] * value / close_row[j] - position[j]
        if whole_units:
            size = np.floor(size) if size >= 0.0 else -np.floor(-size)
        sizes[j] = size
        key = weights_row[j] * value - position[j] * close_row[j]
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
def _execute_rebalance(fills, n_fills, rejections, n_rejected, cash, position, bar, price_row,
                       sizes, sequence, n_orders, fee_rate, slippage):
    """Execute one rebalance in sequence at ``price_row``; an order that does not fit is rejected whole."""
    for k in range(n_orders):
        j = sequence[k]
        size = sizes[j]
        if size < 0.0:
            cash, n_fills = _sell(fills, n_fills, cash, position, j, bar, price_row[j], -size,
                                  fee_rate, slippage, REASON_REBALANCE)
        elif size > 0.0:
            cash, n_fills, filled = _buy(fills, n_fills, cash, position, j, bar, price_row[j], size,
                                         fee_rate, slippage, REASON_REBALANCE)
            if not filled:
                n_rejected = _reject(rejections, n_rejected, j, bar, BUY, size, REASON_REBALANCE)
    return cash, n_fills, n_rejected


@njit(cache=True)
def simulate_rotation(
    open_: np.ndarray,
    close: np.ndarray,
    weights: np.ndarray,
    is_rebalance: np.ndarray,
    fill_next_open: bool,
    cash0: float,
    fee_rate: float,
    slippage: float,
    whole_units: bool,
):
    """Target-weight rotation with one shared cash pool on (n_bars, n_assets) arrays.

    On a rebalance bar t (not the last), orders are sized from close[t] and
    the value at close[t] (:func:`rebalance_orders`) and fill at close[t]
    (``close``) or open[t+1] (``next_open``) in their sequence. Returns the
    same tuple as :func:`simulate_signals`.
    """
    n_bars, n_assets = close.shape
    fills = np.empty((n_bars * n_assets, N_FILL_FIELDS))
    rejections = np.empty((n_bars * n_assets, N_REJECTION_FIELDS))
    n_fills = 0
    n_rejected = 0
    equity = np.empty(n_bars)
    position = np.zeros(n_assets)
    cash = cash0
    last = n_bars - 1
    pending_sizes = np.zeros(n_assets)
    pending_sequence = np.empty(n_assets, dtype=np.int64)
    n_pending = 0

    for i in range(n_bars):
        if n_pending > 0:
            cash, n_fills, n_rejected = _execute_rebalance(
                fills, n_fills, rejections, n_rejected, cash, position, i, open_[i],
                pending_sizes, pending_sequence, n_pending, fee_rate, slippage)
            n_pending = 0
        if is_rebalance[i] and i != last:
            sizes, sequence, n_orders = rebalance_orders(close[i], weights[i], position, cash, whole_units)
            if fill_next_open:
                pending_sizes[:] = sizes
                pending_sequence[:] = sequence
                n_pending = n_orders
            else:
                cash, n_fills, n_rejected = _execute_rebalance(
                    fills, n_fills, rejections, n_rejected, cash, position, i, close[i],
                    sizes, sequence, n_orders, fee_rate, slippage)
        value = cash
        for j in range(n_assets):
            if position[j] != 0.0:
                value += position[j] * close[i, j]
        equity[i] = value

    return fills, n_fills, rejections, n_rejected, equity
